"""Soak: minutes of bids and watchers through nginx into two app processes on PostgreSQL.

Nothing fails on purpose here, so nothing may fail: no 5xx, every receipt in the log exactly
once, every watcher's events gap-free (half of them hang up and resume all the time, as phones
do), and at the end each app process's memory has stopped growing and its open file descriptors
are back near where they were before the clients came.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from tests.live.clients import Final, RecordingWatcher
from tests.slow.shape import (
    Bidding,
    Usage,
    bid_events,
    bid_until,
    open_lot,
    production_shape,
    usage,
)

pytestmark = pytest.mark.slow

SOAK_S = float(os.environ.get("AUCTION_TEST_SOAK_S", "120"))
"""How long the load lasts (the whole test takes about 30 s more)."""
WARM_UP_S = min(30.0, SOAK_S / 4)
LOTS, BIDDERS_PER_LOT, WATCHERS_PER_LOT = 4, 3, 10
BID_PAUSE_S = 0.05
POOL_SIZE = 5
RSS_GROWTH_LIMIT = 10 * 2**20
"""Growth allowed from the end of the warm-up to the end (about 1 MiB is measured): a leak of
a kilobyte per bid, or of a hundred bytes per frame sent, goes past it within the two minutes."""
FD_SLACK = POOL_SIZE + 6
"""Descriptors allowed above the idle count: the database pool's connections, kept open for the
next requests, and a few the runtime may keep."""


async def settle(servers_usage: Callable[[], list[Usage]], limit: list[int]) -> list[Usage]:
    """Wait (at most 20 s) until every process is back within ``limit`` descriptors; the
    clients are gone, but nginx's idle upstream connections close after the keep-alive timeout."""
    deadline = time.monotonic() + 20
    while True:
        now = servers_usage()
        if all(u.fds <= cap for u, cap in zip(now, limit, strict=True)):
            return now
        if time.monotonic() > deadline:
            return now
        await asyncio.sleep(0.5)


async def test_bids_and_watchers_through_nginx_leave_no_error_leak_or_gap(
    settings: Settings,
    tmp_path: Path,
    maker: async_sessionmaker[AsyncSession],
    figures: Callable[[str], None],
) -> None:
    if settings.is_sqlite:
        pytest.skip("the production shape runs on PostgreSQL")
    env = {"AUCTION_WS_HEARTBEAT_S": "1", "AUCTION_DB_POOL_SIZE": str(POOL_SIZE)}
    async with production_shape(settings, tmp_path, env) as shape:
        lots = [await open_lot(shape.url, maker, BIDDERS_PER_LOT, 3600) for _ in range(LOTS)]

        def sample() -> list[Usage]:
            return [usage(server) for server in shape.servers]

        idle = sample()
        finals = {lot_id: Final() for lot_id, _ in lots}
        watchers = [
            (RecordingWatcher(shape.url, lot_id), 40 if n % 2 else None)
            for lot_id, _ in lots
            for n in range(WATCHERS_PER_LOT)
        ]
        watching = [
            asyncio.create_task(watcher.watch(finals[watcher.lot_id], per_visit))
            for watcher, per_visit in watchers
        ]
        stop, bidding = asyncio.Event(), Bidding()
        bidders = [
            asyncio.create_task(bid_until(shape.url, lot_id, p, stop, bidding, BID_PAUSE_S))
            for lot_id, people in lots
            for p in people
        ]
        began = time.monotonic()
        await asyncio.sleep(WARM_UP_S)
        warm, peak = sample(), sample()
        while time.monotonic() - began < SOAK_S:
            await asyncio.sleep(2)
            peak = [max(a, b, key=lambda u: u.fds) for a, b in zip(peak, sample(), strict=True)]
        stop.set()
        await asyncio.gather(*bidders)
        elapsed = time.monotonic() - began

        async with httpx.AsyncClient(base_url=shape.url, timeout=30) as client:
            for lot_id, final in finals.items():
                final.seq = (await client.get(f"/api/lots/{lot_id}")).json()["seq"]
        await asyncio.wait_for(asyncio.gather(*watching), timeout=120)
        end = await settle(sample, [u.fds + FD_SLACK for u in idle])
        proxied = shape.nginx.access_statuses()

    logged = await bid_events(maker, [lot_id for lot_id, _ in lots])
    accepted = len(bidding.receipts)
    figures(
        f"{elapsed:.0f} s, {LOTS} lots, {LOTS * BIDDERS_PER_LOT} bidders, {len(watchers)} watchers "
        f"({sum(w.connections for w, _ in watchers)} connections); {bidding.attempts} bids tried, "
        f"{accepted} accepted ({accepted / elapsed:.0f}/s); answers {dict(bidding.statuses)}, "
        f"refused {dict(bidding.codes)}; "
        f"nginx logged {dict(sorted(proxied.items()))}; no answer {dict(bidding.failures)}"
    )
    for n, (before, during, top, after) in enumerate(zip(idle, warm, peak, end, strict=True)):
        figures(
            f"app {n + 1}: idle {before}; after warm-up {during}; peak {top.fds} fds; "
            f"end {after} (RSS {(after.rss - during.rss) / 2**20:+.1f} MiB since warm-up)"
        )

    assert not bidding.failures, f"requests without an answer: {bidding.failures}"
    assert not [s for s in bidding.statuses if s >= 500]
    assert not [s for s in proxied if s >= 500], proxied
    assert accepted > 10 * LOTS
    hashes = [receipt["hash"] for receipt in bidding.receipts]
    assert len(set(hashes)) == accepted  # no receipt twice
    assert sorted(hashes) == sorted(logged)  # every receipt in the log, and nothing else
    for watcher, _ in watchers:
        last = finals[watcher.lot_id].seq
        assert last is not None
        assert watcher.seqs == list(range((watcher.snapshot_seq or 0) + 1, last + 1))
    for before, during, after in zip(idle, warm, end, strict=True):
        assert after.rss - during.rss < RSS_GROWTH_LIMIT, (during, after)
        assert after.fds <= before.fds + FD_SLACK, (before, after)
