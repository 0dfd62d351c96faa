"""Brokers tell every process which lot moved on to which sequence number.

Only ``(lot, seq)`` travels: each process reads the events themselves from the database, so a
broker may lose, repeat or reorder announcements without any watcher missing an event. Three
brokers behind one interface: in memory (one process), PostgreSQL LISTEN/NOTIFY and Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

import asyncpg
from redis.asyncio import Redis

from app.audit.models import EventRecord
from app.live.hub import LiveHub

logger = logging.getLogger(__name__)
CHANNEL = "auction_events"
RECONNECT_DELAY_S = 1.0
KEEPALIVE_S = 5.0


class Broker(Protocol):
    async def start(self) -> None: ...

    async def announce(self, lot_id: int, records: list[EventRecord]) -> None: ...

    async def close(self) -> None: ...


MAX_PAYLOAD = 7_900
"""Bytes per announcement: PostgreSQL refuses a NOTIFY payload of 8,000 bytes or more."""
STATEMENT_TIMEOUT_S = 5.0


def encode(pending: dict[int, int]) -> list[str]:
    """``lot:seq`` pairs, as few payloads as fit (many lots may move at once)."""
    payloads, current = [], ""
    for lot_id, seq in pending.items():
        pair = f"{lot_id}:{seq}"
        if current and len(current) + 1 + len(pair) > MAX_PAYLOAD:
            payloads.append(current)
            current = ""
        current = f"{current},{pair}" if current else pair
    if current:
        payloads.append(current)
    return payloads


def decode(payload: str) -> list[tuple[int, int]]:
    pairs = []
    for item in payload.split(","):
        lot_id, _, seq = item.partition(":")
        if lot_id.isdigit() and seq.isdigit():
            pairs.append((int(lot_id), int(seq)))
    return pairs


class MemoryBroker:
    """One process: its own commits reach its hub directly, there is nobody else to tell."""

    async def start(self) -> None:
        return None

    async def announce(self, lot_id: int, records: list[EventRecord]) -> None:
        return None

    async def close(self) -> None:
        return None


class _CoalescingBroker:
    """Announcements are gathered and sent together: one message names many lots, and a burst
    of commits on one lot sends only its last sequence number."""

    def __init__(self, hub: LiveHub) -> None:
        self.hub = hub
        self._pending: dict[int, int] = {}
        self._wakeup = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        self._tasks = [
            asyncio.create_task(self._listen_forever(), name="broker-listen"),
            asyncio.create_task(self._flush_forever(), name="broker-flush"),
        ]

    async def announce(self, lot_id: int, records: list[EventRecord]) -> None:
        seq = records[-1].lot_seq or 0
        self._pending[lot_id] = max(seq, self._pending.get(lot_id, 0))
        self._wakeup.set()

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def _received(self, payload: str) -> None:
        for lot_id, seq in decode(payload):
            self.hub.announce(lot_id, seq)

    async def _flush_forever(self) -> None:
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            pending, self._pending = self._pending, {}
            try:
                for payload in encode(pending):
                    await self._send(payload)
            except Exception:
                logger.warning("broker send failed; watchers elsewhere catch up on reconnect")
                for lot_id, seq in pending.items():
                    self._pending[lot_id] = max(seq, self._pending.get(lot_id, 0))
                await asyncio.sleep(RECONNECT_DELAY_S)
                self._wakeup.set()

    async def _send(self, payload: str) -> None:
        raise NotImplementedError

    async def _listen_forever(self) -> None:
        raise NotImplementedError


class PostgresBroker(_CoalescingBroker):
    """LISTEN/NOTIFY on a connection of its own, outside every write transaction (a NOTIFY
    inside one would take PostgreSQL's global notify lock at its commit)."""

    def __init__(self, hub: LiveHub, dsn: str) -> None:
        super().__init__(hub)
        self.dsn = dsn
        self._connection: asyncpg.Connection | None = None
        self._in_use = asyncio.Lock()
        """One statement at a time on the connection: asyncpg refuses a second one in flight
        (a notify meeting the keepalive failed, and the listener reconnected for nothing)."""

    async def _send(self, payload: str) -> None:
        if self._connection is None:
            raise ConnectionError("not connected")
        async with self._in_use:
            await self._connection.execute(
                "SELECT pg_notify($1, $2)", CHANNEL, payload, timeout=STATEMENT_TIMEOUT_S
            )

    async def _listen_forever(self) -> None:
        while True:
            try:
                connection = await asyncpg.connect(self.dsn)
                await connection.add_listener(CHANNEL, lambda *args: self._received(args[-1]))
                self._connection = connection
                self.hub.resync()  # whatever was announced while we were away
                while True:
                    await asyncio.sleep(KEEPALIVE_S)
                    async with self._in_use:
                        await connection.execute("SELECT 1", timeout=STATEMENT_TIMEOUT_S)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect
                logger.warning("PostgreSQL broker connection lost (%s); reconnecting", exc)
            finally:
                if self._connection is not None:
                    with contextlib.suppress(Exception):
                        await self._connection.close(timeout=2)
                    self._connection = None
            await asyncio.sleep(RECONNECT_DELAY_S)


class RedisBroker(_CoalescingBroker):
    def __init__(self, hub: LiveHub, url: str) -> None:
        super().__init__(hub)
        self.redis = Redis.from_url(url)

    async def _send(self, payload: str) -> None:
        await self.redis.publish(CHANNEL, payload)

    async def _listen_forever(self) -> None:
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CHANNEL)
                    self.hub.resync()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            data = message["data"]
                            self._received(data.decode() if isinstance(data, bytes) else data)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: reconnect
                logger.warning("Redis broker connection lost (%s); reconnecting", exc)
            await asyncio.sleep(RECONNECT_DELAY_S)

    async def close(self) -> None:
        await super().close()
        await self.redis.aclose()
