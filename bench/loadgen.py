"""Lean load generators for the benchmarks: an HTTP/1.1 keep-alive client and a WebSocket
watcher, both on raw asyncio protocols (no httpx, no websockets library), and the plumbing to
run them in several worker processes whose CPU the parent measures with psutil.

Only what the benchmarks need is implemented: ``Content-Length`` or chunked responses, and
server-to-client WebSocket frames (unmasked, unfragmented), with pongs answered.
"""

from __future__ import annotations

import asyncio
import base64
import json
import math
import multiprocessing as mp
import resource
import time
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.connection import Connection
from typing import Any, cast

import psutil

# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(ordered: Sequence[float], q: float) -> float:
    """The q-th percentile (0..100) of already sorted values, nearest-rank; NaN if empty."""
    if not ordered:
        return math.nan
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """p50/p99/max/mean in milliseconds of latencies given in seconds."""
    ordered = sorted(values)
    if not ordered:
        return {"p50_ms": math.nan, "p99_ms": math.nan, "max_ms": math.nan, "mean_ms": math.nan}
    return {
        "p50_ms": percentile(ordered, 50) * 1000,
        "p99_ms": percentile(ordered, 99) * 1000,
        "max_ms": ordered[-1] * 1000,
        "mean_ms": sum(ordered) / len(ordered) * 1000,
    }


def raise_nofile_limit(wanted: int | None = None) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE to the hard limit (or ``wanted``); returns (soft, hard)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if wanted is None or hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)


def use_uvloop() -> None:
    try:
        import uvloop
    except ImportError:  # the plain loop works too, only slower
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


# ---------------------------------------------------------------------------------------------
# Worker processes, measured from outside


@dataclass
class Workers:
    """Spawned worker processes, each with a pipe to the parent."""

    processes: list[Any]
    pipes: list[Connection]

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.processes]

    def send(self, message: object) -> None:
        for pipe in self.pipes:
            pipe.send(message)

    def receive(self, timeout_s: float) -> list[Any]:
        """One message from each worker; a worker that died or stayed silent is an error."""
        answers = []
        deadline = time.monotonic() + timeout_s
        for process, pipe in zip(self.processes, self.pipes, strict=True):
            while not pipe.poll(0.2):
                if not process.is_alive():
                    raise RuntimeError(f"load worker {process.pid} died ({process.exitcode})")
                if time.monotonic() > deadline:
                    raise TimeoutError(f"load worker {process.pid} did not answer")
            answers.append(pipe.recv())
        return answers

    def join(self) -> None:
        for process in self.processes:
            process.join(10)
            if process.is_alive():
                process.kill()


def spawn(target: Callable[[Connection, Any], None], jobs: Sequence[object]) -> Workers:
    """Start one fresh interpreter per job (spawn: no inherited event loop or sockets)."""
    context = mp.get_context("spawn")
    processes, pipes = [], []
    for job in jobs:
        parent_end, child_end = context.Pipe()
        process = context.Process(target=target, args=(child_end, job), daemon=True)
        process.start()
        child_end.close()
        processes.append(process)
        pipes.append(parent_end)
    return Workers(processes, pipes)


class CpuMeter:
    """CPU seconds (user + system, all threads) that processes used between two readings."""

    def __init__(self, pids: Sequence[int]) -> None:
        self.processes = [psutil.Process(pid) for pid in pids]
        self.started = time.monotonic()
        self.start = [self._cpu(p) for p in self.processes]

    @staticmethod
    def _cpu(process: psutil.Process) -> float:
        try:
            times = process.cpu_times()
        except psutil.Error:
            return math.nan
        return float(times.user + times.system)

    def seconds(self) -> list[float]:
        """Per process: CPU seconds used since the start."""
        return [self._cpu(p) - s for p, s in zip(self.processes, self.start, strict=True)]

    def percent(self) -> list[float]:
        """Per process: CPU used since the start, as % of one core."""
        elapsed = max(time.monotonic() - self.started, 1e-9)
        return [used / elapsed * 100 for used in self.seconds()]


def sleep_until(moment: float) -> None:
    delay = moment - time.monotonic()
    if delay > 0:
        time.sleep(delay)


async def receive(pipe: Connection) -> Any:
    """The next message from the parent, without blocking the event loop."""
    return await asyncio.to_thread(pipe.recv)


# ---------------------------------------------------------------------------------------------
# HTTP/1.1 keep-alive client


class HttpError(Exception):
    """The connection failed or closed before the whole response arrived."""


class _HttpProtocol(asyncio.Protocol):
    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.waiter: asyncio.Future[tuple[int, bytes]] | None = None
        self.closed = False
        self.keep_alive = True

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_exception(HttpError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.waiter is None or self.waiter.done():
            return
        response = self._parse()
        if response is not None:
            self.waiter.set_result(response)

    def _parse(self) -> tuple[int, bytes] | None:
        buffer = self.buffer
        end = buffer.find(b"\r\n\r\n")
        if end < 0:
            return None
        head = bytes(buffer[:end]).lower()
        status = int(head[9:12])
        start = end + 4
        at = head.find(b"\r\ncontent-length:")
        if at >= 0:
            line_end = head.find(b"\r\n", at + 2)
            length = int(head[at + 17 : line_end if line_end >= 0 else len(head)])
            if len(buffer) < start + length:
                return None
            body = bytes(buffer[start : start + length])
            del buffer[: start + length]
        elif b"\r\ntransfer-encoding: chunked" in head:
            parsed = _dechunk(buffer, start)
            if parsed is None:
                return None
            body, consumed = parsed
            del buffer[:consumed]
        else:
            body = b""
            del buffer[:start]
        self.keep_alive = b"\r\nconnection: close" not in head
        return status, body


def _dechunk(buffer: bytearray, start: int) -> tuple[bytes, int] | None:
    parts: list[bytes] = []
    position = start
    while True:
        line_end = buffer.find(b"\r\n", position)
        if line_end < 0:
            return None
        size = int(bytes(buffer[position:line_end]).split(b";")[0], 16)
        chunk_start = line_end + 2
        if len(buffer) < chunk_start + size + 2:
            return None
        if size == 0:
            trailer_end = buffer.find(b"\r\n\r\n", line_end)
            if trailer_end < 0:
                return None
            return b"".join(parts), trailer_end + 4
        parts.append(bytes(buffer[chunk_start : chunk_start + size]))
        position = chunk_start + size + 2


class HttpClient:
    """One keep-alive connection; ``request`` sends one request and reads its response.

    It reconnects by itself after the server closed the connection.
    """

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.host_header = f"Host: {host}:{port}\r\n".encode()
        self.protocol: _HttpProtocol | None = None

    async def connect(self) -> None:
        loop = asyncio.get_running_loop()
        _, protocol = await loop.create_connection(_HttpProtocol, self.host, self.port)
        self.protocol = protocol

    async def request(
        self, method: str, path: str, headers: bytes = b"", body: bytes = b""
    ) -> tuple[int, bytes]:
        """``headers`` are ready-made lines, each ending in CRLF; returns (status, body)."""
        if self.protocol is None or self.protocol.closed or not self.protocol.keep_alive:
            self.close()
            await self.connect()
        protocol = self.protocol
        assert protocol is not None
        assert protocol.transport is not None
        waiter: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        protocol.waiter = waiter
        protocol.transport.write(
            b"%s %s HTTP/1.1\r\n%s%sContent-Length: %d\r\n\r\n%s"
            % (method.encode(), path.encode(), self.host_header, headers, len(body), body)
        )
        if protocol.buffer:  # an answer that arrived with the previous one (never, in practice)
            parsed = protocol._parse()
            if parsed is not None:
                waiter.set_result(parsed)
        return await waiter

    async def post_json(
        self, path: str, payload: object, headers: bytes = b""
    ) -> tuple[int, bytes]:
        body = json.dumps(payload, separators=(",", ":")).encode()
        return await self.request(
            "POST", path, headers + b"Content-Type: application/json\r\n", body
        )

    def close(self) -> None:
        if self.protocol is not None and self.protocol.transport is not None:
            self.protocol.transport.close()
        self.protocol = None


# ---------------------------------------------------------------------------------------------
# Bidders: each loops "bid current + step; on a refusal take current_price_fen from the answer"


@dataclass(frozen=True)
class BidderJob:
    host: str
    port: int
    lot_id: int
    tokens: list[str]
    """One bearer token per bidder run by this worker (each bidder is one connection)."""
    start_price_fen: int
    step_fen: int
    key_prefix: str


@dataclass
class BidderResult:
    latencies: array[float] = field(default_factory=lambda: array("d"))
    """Seconds, for each attempt started inside the measuring window."""
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    transport_errors: int = 0


async def _bidder(
    client: HttpClient,
    job: BidderJob,
    token: str,
    serial: int,
    window: tuple[float, float],
    result: BidderResult,
) -> None:
    measure_from, stop_at = window
    path = f"/api/lots/{job.lot_id}/bids"
    auth = f"Authorization: Bearer {token}\r\n".encode()
    amount: int | None = None
    count = 0
    clock = time.monotonic
    while (started := clock()) < stop_at:
        count += 1
        key = f"Idempotency-Key: {job.key_prefix}-{serial}-{count}\r\n".encode()
        offer = job.start_price_fen if amount is None else amount + job.step_fen
        try:
            status, body = await client.post_json(path, {"amount_fen": offer}, auth + key)
        except (HttpError, OSError):
            result.transport_errors += 1
            await asyncio.sleep(0.01)
            continue
        if started >= measure_from:
            result.latencies.append(clock() - started)
            result.statuses[status] += 1
        if status == 201:
            amount = offer
            continue
        try:
            answer = json.loads(body)
        except ValueError:
            answer = {}
        if started >= measure_from:
            result.codes[str(answer.get("code", status))] += 1
        if answer.get("current_price_fen") is not None:
            amount = int(answer["current_price_fen"])
        if status == 429:  # rate limited: the server asks us to slow down
            await asyncio.sleep(float(answer.get("retry_after", 0.05)))


async def _run_bidders(pipe: Connection, job: BidderJob) -> BidderResult:
    clients = [HttpClient(job.host, job.port) for _ in job.tokens]
    await asyncio.gather(*(client.connect() for client in clients))
    pipe.send("ready")
    window: tuple[float, float] = await receive(pipe)
    result = BidderResult()
    await asyncio.gather(
        *(
            _bidder(client, job, token, serial, window, result)
            for serial, (client, token) in enumerate(zip(clients, job.tokens, strict=True))
        )
    )
    for client in clients:
        client.close()
    return result


def bidder_worker(pipe: Connection, job: BidderJob) -> None:
    """Worker process: connect, say ready, wait for the (measure_from, stop_at) window, bid."""
    use_uvloop()
    result = asyncio.run(_run_bidders(pipe, job))
    pipe.send(result)


# ---------------------------------------------------------------------------------------------
# WebSocket watchers

_WS_KEY = base64.b64encode(b"bench-ws-key-16b").decode()
_PONG_HEADER = b"\x8a"
_EVENT_PREFIX = b'{"type":"event"'
_AT = b'"at":"'


@dataclass
class WatchStats:
    """What one worker's watchers saw; ``latencies`` in seconds, one per event frame."""

    connected: int = 0
    failed: int = 0
    closed_by_server: int = 0
    close_codes: Counter[int] = field(default_factory=Counter)
    frames: int = 0
    event_frames: int = 0
    bytes: int = 0
    latencies: array[float] = field(default_factory=lambda: array("f"))
    per_watcher_events: list[int] = field(default_factory=list)


class _AtClock:
    """Server ``at`` strings to epoch seconds, parsed once per event (all watchers share it)."""

    def __init__(self) -> None:
        self.cache: dict[bytes, float] = {}

    def epoch(self, text: bytes) -> float:
        value = self.cache.get(text)
        if value is None:
            value = datetime.fromisoformat(text.decode().replace("Z", "+00:00")).timestamp()
            if len(self.cache) > 100_000:
                self.cache.clear()
            self.cache[text] = value
        return value


class WatcherProtocol(asyncio.Protocol):
    """One watcher: sends the upgrade request by hand, then reads frames as they come."""

    def __init__(
        self, request: bytes, stats: WatchStats, clock: _AtClock, ready: asyncio.Future[bool]
    ) -> None:
        self.request = request
        self.stats = stats
        self.clock = clock
        self.ready = ready
        self.transport: asyncio.Transport | None = None
        self.upgraded = False
        self.pending = b""
        self.events = 0
        self.stopping = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.transport.write(self.request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        elif not self.stopping:
            self.stats.closed_by_server += 1

    def data_received(self, data: bytes) -> None:
        now = time.time()
        if self.pending:
            data = self.pending + data
            self.pending = b""
        if not self.upgraded:
            end = data.find(b"\r\n\r\n")
            if end < 0:
                self.pending = data
                return
            if not data.startswith(b"HTTP/1.1 101"):
                self._fail()
                return
            self.upgraded = True
            data = data[end + 4 :]
        self.stats.bytes += len(data)
        position, size = 0, len(data)
        while size - position >= 2:
            opcode = data[position] & 0x0F
            length = data[position + 1] & 0x7F
            start = position + 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(data[position + 2 : position + 4], "big")
                start = position + 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(data[position + 2 : position + 10], "big")
                start = position + 10
            end = start + length
            if end > size:
                break
            self._frame(opcode, data, start, end, now)
            position = end
        if position < size:
            self.pending = data[position:]

    def _frame(self, opcode: int, data: bytes, start: int, end: int, now: float) -> None:
        stats = self.stats
        stats.frames += 1
        if opcode == 1:
            if data.startswith(_EVENT_PREFIX, start):
                at = data.find(_AT, start, end)
                if at >= 0:
                    close = data.index(b'"', at + 6)
                    stats.latencies.append(now - self.clock.epoch(data[at + 6 : close]))
                stats.event_frames += 1
                self.events += 1
            elif not self.ready.done():  # the snapshot (or the catch-up's first event)
                self.ready.set_result(True)
        elif opcode == 9 and self.transport is not None:  # ping: answer with a masked pong
            payload = data[start:end]
            self.transport.write(
                _PONG_HEADER + bytes([0x80 | len(payload)]) + b"\0\0\0\0" + payload
            )
        elif opcode == 8:
            code = int.from_bytes(data[start : start + 2], "big") if end - start >= 2 else 1005
            stats.close_codes[code] += 1
            if self.transport is not None:
                self.transport.close()

    def _fail(self) -> None:
        if not self.ready.done():
            self.ready.set_result(False)
        if self.transport is not None:
            self.transport.close()

    def stop(self) -> None:
        self.stopping = True
        if self.transport is not None:
            self.transport.abort()


@dataclass(frozen=True)
class WatchJob:
    host: str
    port: int
    path: str
    count: int
    connect_concurrency: int = 50
    connect_timeout_s: float = 60.0


async def _connect(
    job: WatchJob, stats: WatchStats, clock: _AtClock, gate: asyncio.Semaphore
) -> WatcherProtocol | None:
    request = (
        f"GET {job.path} HTTP/1.1\r\nHost: {job.host}:{job.port}\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {_WS_KEY}\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n"
    ).encode()
    loop = asyncio.get_running_loop()
    async with gate:
        for attempt in range(5):
            ready: asyncio.Future[bool] = loop.create_future()
            try:
                _, protocol = await loop.create_connection(
                    lambda: WatcherProtocol(request, stats, clock, ready),  # noqa: B023
                    job.host,
                    job.port,
                )
                async with asyncio.timeout(job.connect_timeout_s):
                    if await ready:
                        return protocol
                protocol.stop()
            except (OSError, TimeoutError):
                pass
            await asyncio.sleep(0.05 * (attempt + 1))
    stats.failed += 1
    return None


async def _run_watchers(pipe: Connection, job: WatchJob) -> WatchStats:
    stats = WatchStats()
    clock = _AtClock()
    gate = asyncio.Semaphore(job.connect_concurrency)
    connected = await asyncio.gather(*(_connect(job, stats, clock, gate) for _ in range(job.count)))
    watchers = [w for w in connected if w is not None]
    stats.connected = len(watchers)
    pipe.send(("ready", stats.connected, stats.failed))
    while True:
        command = await receive(pipe)
        if command == "count":
            pipe.send(stats.event_frames)
        elif command == "stop":
            break
    stats.per_watcher_events = [w.events for w in watchers]
    for watcher in watchers:
        watcher.stop()
    await asyncio.sleep(0.1)
    return stats


def watcher_worker(pipe: Connection, job: WatchJob) -> None:
    """Worker process: open ``job.count`` sockets, say ready, count on demand, stop, report."""
    raise_nofile_limit()
    use_uvloop()
    stats = asyncio.run(_run_watchers(pipe, job))
    pipe.send(stats)
