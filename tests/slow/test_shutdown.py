"""Graceful shutdown: SIGTERM to one of two app processes behind nginx while bids are in flight.

The process must finish what it took on (a bid that reached it commits and is answered), close
every WebSocket with 1012 ("restarting", docs/websocket.md) so watchers resume elsewhere with
``?after=``, and exit cleanly. Bidders who get no answer retry with the same Idempotency-Key, as
the browser does: in the end every accepted bid is in the log exactly once and none is lost.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.live.hub import CLOSE_RESTARTING
from tests.factories import Person
from tests.live.clients import Final, RecordingWatcher
from tests.slow.shape import (
    START,
    STEP,
    Bidding,
    bid_events,
    next_amount,
    open_lot,
    production_shape,
)

pytestmark = pytest.mark.slow
GRACE_S = 10
_keys = itertools.count()


@dataclass
class ReconnectingWatcher(RecordingWatcher):
    """A watcher that notes each close code it is sent and comes back at ``elsewhere``."""

    elsewhere: str = ""
    closes: list[int | None] = field(default_factory=list)
    """Close codes received; None for a connection that ended without a close frame."""

    async def watch(self, final: Final, frames_per_visit: int | None = None) -> None:
        while not self.done(final):
            self.connections += 1
            try:
                await self._visit(final, frames_per_visit)
            except websockets.ConnectionClosed as exc:
                self.closes.append(exc.rcvd.code if exc.rcvd is not None else None)
                self.url = self.elsewhere or self.url
                await asyncio.sleep(0.1)
            except (websockets.InvalidHandshake, OSError, TimeoutError):
                await asyncio.sleep(0.2)


@dataclass
class Outcomes:
    """What the bidders were told, and how requests to the stopping process ended."""

    bidding: Bidding = field(default_factory=Bidding)
    answered_during_shutdown: int = 0
    """Requests to the stopping process sent before SIGTERM and answered after it."""
    unanswered: list[str] = field(default_factory=list)
    """Requests to the stopping process that got no answer, by exception."""
    app_errors: list[str] = field(default_factory=list)
    """5xx answers of an app process itself (problem+json); there must be none."""
    proxy_errors: int = 0
    """502/503/504 from nginx: the request may or may not have reached the stopped process."""


@dataclass
class Bidder:
    """Bids at ``url`` until that fails, then (like a client told to go elsewhere) at
    ``fallback``; a bid without an answer is retried with the same Idempotency-Key."""

    url: str
    fallback: str
    lot_id: int
    person: Person
    outcomes: Outcomes
    sigterm: list[float]

    async def bid(self, amount: int) -> httpx.Response:
        key = f"{self.person.username}-{next(_keys)}"
        while True:
            sent, stopping = time.monotonic(), self.url != self.fallback
            try:
                async with httpx.AsyncClient(base_url=self.url, timeout=30) as client:
                    response = await client.post(
                        f"/api/lots/{self.lot_id}/bids",
                        json={"amount_fen": amount},
                        headers={**self.person.headers, "Idempotency-Key": key},
                    )
            except httpx.HTTPError as exc:
                if stopping:
                    self.outcomes.unanswered.append(type(exc).__name__)
                else:
                    self.outcomes.bidding.failures[type(exc).__name__] += 1
                self.url = self.fallback
                await asyncio.sleep(0.05)
                continue
            self.outcomes.bidding.attempts += 1
            self.outcomes.bidding.statuses[response.status_code] += 1
            if stopping and self.sigterm and sent < self.sigterm[0]:
                self.outcomes.answered_during_shutdown += 1
            if response.status_code >= 500:
                if _from_app(response):
                    self.outcomes.app_errors.append(response.text)
                else:
                    self.outcomes.proxy_errors += 1
                await asyncio.sleep(0.05)
                continue
            if response.status_code == 201:
                self.outcomes.bidding.receipts.append(response.json())
            return response

    async def keep_bidding(self, stop: asyncio.Event) -> None:
        price = START - STEP
        while not stop.is_set():
            price = next_amount(await self.bid(price + STEP), price)


async def slow_bid(url: str, lot_id: int, person: Person, rest: asyncio.Event) -> httpx.Response:
    """A bid far above the price, whose body is sent in two parts: the second once ``rest``."""

    async def body() -> AsyncIterator[bytes]:
        yield b'{"amount_fen": '
        await rest.wait()
        yield b"%d}" % (START + 10_000 * STEP)

    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        return await client.post(
            f"/api/lots/{lot_id}/bids",
            content=body(),
            headers={
                **person.headers,
                "Content-Type": "application/json",
                "Idempotency-Key": "in-flight-at-sigterm",
            },
        )


def _from_app(response: httpx.Response) -> bool:
    return bool(response.headers.get("content-type") == "application/problem+json")


async def test_sigterm_finishes_bids_in_flight_and_sends_watchers_elsewhere_with_1012(
    settings: Settings,
    tmp_path: Path,
    maker: async_sessionmaker[AsyncSession],
    figures: Callable[[str], None],
) -> None:
    if settings.is_sqlite:
        pytest.skip("the production shape runs on PostgreSQL")
    env = {"AUCTION_WS_HEARTBEAT_S": "0.5", "AUCTION_GRACEFUL_SHUTDOWN_S": str(GRACE_S)}
    async with production_shape(settings, tmp_path, env) as shape:
        stopping, staying = shape.servers
        lot_id, people = await open_lot(shape.url, maker, 7, 3600)
        patient = people.pop()  # bids once, at the shutdown, and is never leading before
        final = Final()
        # On the process that will stop, directly; and through nginx, connected one by one
        # before any other request, so round-robin puts every other one on that process.
        direct = [ReconnectingWatcher(stopping.url, lot_id, elsewhere=shape.url) for _ in range(4)]
        proxied = [ReconnectingWatcher(shape.url, lot_id) for _ in range(8)]
        watching = []
        for watcher in [*direct, *proxied]:
            watching.append(asyncio.create_task(watcher.watch(final)))
            async with asyncio.timeout(10):
                while watcher.snapshot_seq is None:
                    await asyncio.sleep(0.01)

        stop, outcomes, sigterm = asyncio.Event(), Outcomes(), list[float]()
        bidders = [
            # Half bid straight at the process that will stop: in flight when it is told to.
            Bidder(stopping.url if n % 2 else shape.url, shape.url, lot_id, p, outcomes, sigterm)
            for n, p in enumerate(people)
        ]
        bidding = [asyncio.create_task(bidder.keep_bidding(stop)) for bidder in bidders]
        await asyncio.sleep(3)
        # A bid surely in flight: its headers reach the process before SIGTERM, its body after.
        rest_of_body = asyncio.Event()
        in_flight = asyncio.create_task(slow_bid(stopping.url, lot_id, patient, rest_of_body))
        await asyncio.sleep(0.5)
        assert stopping.process is not None
        sigterm.append(time.monotonic())
        stopping.process.send_signal(signal.SIGTERM)
        await asyncio.sleep(0.5)
        rest_of_body.set()
        exit_code = await asyncio.to_thread(stopping.process.wait, GRACE_S + 20)
        exit_s = time.monotonic() - sigterm[0]
        slow_answer = await in_flight
        if slow_answer.status_code == 201:
            outcomes.bidding.receipts.append(slow_answer.json())
        accepted_before = len(outcomes.bidding.receipts)
        await asyncio.sleep(3)  # the auction goes on at the other process
        stop.set()
        await asyncio.gather(*bidding)

        async with httpx.AsyncClient(base_url=staying.url, timeout=30) as client:
            final.seq = (await client.get(f"/api/lots/{lot_id}")).json()["seq"]
        await asyncio.wait_for(asyncio.gather(*watching), timeout=60)
        proxied_statuses = shape.nginx.access_statuses()

    receipts = outcomes.bidding.receipts
    logged = await bid_events(maker, [lot_id])
    closes = [code for watcher in [*direct, *proxied] for code in watcher.closes]
    figures(
        f"stopped in {exit_s:.1f} s (exit {exit_code}); the bid in flight at SIGTERM: "
        f"{slow_answer.status_code}; {len(receipts)} bids accepted "
        f"({accepted_before} before the stop ended); "
        f"{outcomes.answered_during_shutdown} requests answered by the stopping process after "
        f"SIGTERM, unanswered there {outcomes.unanswered} (retried elsewhere); answers "
        f"{dict(outcomes.bidding.statuses)}; nginx logged {dict(sorted(proxied_statuses.items()))}"
        f"; close codes {closes}"
    )

    # uvicorn shuts down gracefully, then raises the signal again so that a supervisor sees how
    # the process ended: the exit status is SIGTERM's. Within the grace period, without errors.
    assert exit_code == -signal.SIGTERM
    assert exit_s < GRACE_S
    logged_errors = [
        line
        for line in stopping.log_path.read_text().splitlines()
        if any(mark in line for mark in ('"level": "error"', '"level": "critical"', "Traceback"))
    ]
    assert not logged_errors  # among them uvicorn's "timeout graceful shutdown exceeded"
    assert slow_answer.status_code == 201, slow_answer.text  # finished after SIGTERM
    assert slow_answer.json()["hash"] in logged
    assert not outcomes.app_errors
    assert not outcomes.bidding.failures  # through nginx, every request was answered
    hashes = [receipt["hash"] for receipt in receipts]
    assert len(set(hashes)) == len(hashes)  # a retried bid is not accepted twice
    assert sorted(hashes) == sorted(logged)  # every accepted bid is in the log, none is lost
    assert len(receipts) > accepted_before  # bidding went on at the other process
    for watcher in direct:
        assert watcher.closes == [CLOSE_RESTARTING]
    assert CLOSE_RESTARTING in [code for w in proxied for code in w.closes]
    assert set(closes) == {CLOSE_RESTARTING}
    for watcher in [*direct, *proxied]:
        assert watcher.seqs == list(range((watcher.snapshot_seq or 0) + 1, final.seq + 1))
