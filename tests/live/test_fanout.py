"""Live fan-out through real uvicorn servers and real WebSocket clients: every watcher sees
every event of the lot, in order, with no gap and no duplicate, across reconnects and
processes."""

from __future__ import annotations

import asyncio
import json
import random
from pathlib import Path

import httpx
import pytest
import websockets
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import Role
from app.audit.models import EventRecord
from app.config import Settings
from tests.factories import (
    TIMED_LOT,
    Person,
    approve_bidder,
    bid,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.live.clients import Final, RecordingWatcher
from tests.servers import Server, metric

STEP = TIMED_LOT["rules"]["step_fen"]
START = TIMED_LOT["rules"]["start_price_fen"]
FAST = {"AUCTION_WS_HEARTBEAT_S": "0.5"}


async def open_lot(
    client: httpx.AsyncClient, maker: async_sessionmaker[AsyncSession]
) -> tuple[int, list[tuple[Person, str]]]:
    official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
    rules = {**TIMED_LOT["rules"], "countdown_s": 3600}
    lot = await create_lot(client, official, {**TIMED_LOT, "rules": rules})
    await lifecycle(client, lot["id"], official, "publish")
    bidders = []
    for _ in range(2):
        person = await make_person(client, maker, Role.BIDDER)
        bidders.append((person, await approve_bidder(client, lot["id"], official, person)))
    await lifecycle(client, lot["id"], official, "open")
    return lot["id"], bidders


async def logged_types(maker: async_sessionmaker[AsyncSession], lot_id: int) -> dict[int, str]:
    async with maker() as session:
        rows = await session.execute(
            select(EventRecord.lot_seq, EventRecord.type).where(EventRecord.lot_id == lot_id)
        )
    return {seq: kind for seq, kind in rows.all()}


async def place_bids(
    client: httpx.AsyncClient,
    lot_id: int,
    bidders: list[tuple[Person, str]],
    count: int,
    per_second: float,
) -> None:
    """Two bidders taking turns, at most ``per_second`` bids a second (a lively auction)."""
    loop = asyncio.get_running_loop()
    started = loop.time()
    for n in range(count):
        await asyncio.sleep(max(0.0, started + n / per_second - loop.time()))
        person, _ = bidders[n % 2]
        response = await bid(client, lot_id, person, START + n * STEP)
        assert response.status_code == 201, response.text


def assert_saw_exactly_the_log(watcher: RecordingWatcher, logged: dict[int, str]) -> None:
    assert watcher.snapshot_seq is not None
    expected = list(range(watcher.snapshot_seq + 1, max(logged) + 1))
    assert watcher.seqs == expected, f"gap or duplicate after {watcher.connections} visits"
    assert all(watcher.events[seq]["type"] == logged[seq] for seq in expected)


async def test_200_reconnecting_watchers_each_see_the_whole_log_exactly_once(
    settings: Settings, tmp_path: Path, maker: async_sessionmaker[AsyncSession]
) -> None:
    servers = [Server(settings, tmp_path, **FAST).start()]
    if not settings.is_sqlite:
        servers.append(Server(settings, tmp_path, **FAST).start())
    try:
        async with httpx.AsyncClient(base_url=servers[0].url, timeout=30) as client:
            lot_id, bidders = await open_lot(client, maker)
            final = Final()
            watchers = [RecordingWatcher(random.choice(servers).url, lot_id) for _ in range(200)]
            tasks = [
                asyncio.create_task(w.watch(final, random.choice([None, 7, 25, 60])))
                for w in watchers
            ]
            # Paced like a lively auction: a watcher hanging up every 7 frames and coming back
            # follows about 20 events a second here; behind a faster stream it would fall ever
            # further back, each visit fetching the whole backlog again.
            await place_bids(client, lot_id, bidders, 500, per_second=10)
            final.seq = (await client.get(f"/api/lots/{lot_id}")).json()["seq"]
            _, late = await asyncio.wait(tasks, timeout=300)
            if late:
                stuck = [
                    f"{w.url} last={w.last_seq} visits={w.connections}"
                    for w, t in zip(watchers, tasks, strict=True)
                    if t in late
                ]
                for task in late:
                    task.cancel()
                pytest.fail(f"{len(late)} watchers never saw seq {final.seq}: {stuck[:10]}")
    finally:
        for server in servers:
            server.stop()

    logged = await logged_types(maker, lot_id)
    assert final.seq == max(logged)
    for watcher in watchers:
        assert_saw_exactly_the_log(watcher, logged)
    assert sum(w.connections for w in watchers) > 400  # the reconnects really happened


@pytest.mark.parametrize("broker", ["postgres", "redis"])
async def test_a_bid_through_one_process_reaches_a_watcher_of_another(
    settings: Settings, tmp_path: Path, maker: async_sessionmaker[AsyncSession], broker: str
) -> None:
    if settings.is_sqlite:
        pytest.skip("several processes share a PostgreSQL database, not a SQLite file")
    env = {**FAST, "AUCTION_BROKER": broker}
    first, second = (
        Server(settings, tmp_path, **env).start(),
        Server(settings, tmp_path, **env).start(),
    )
    try:
        async with httpx.AsyncClient(base_url=first.url, timeout=30) as client:
            lot_id, bidders = await open_lot(client, maker)
            url = second.url.replace("http://", "ws://") + f"/ws/lots/{lot_id}"
            async with websockets.connect(url) as socket:
                snapshot = json.loads(await socket.recv())
                assert snapshot["type"] == "snapshot"
                receipt = (await bid(client, lot_id, bidders[0][0], START)).json()
                while True:
                    message = json.loads(await asyncio.wait_for(socket.recv(), timeout=10))
                    if message["type"] == "event":
                        break
                async with httpx.AsyncClient(base_url=second.url) as watched:
                    assert await metric(watched, "auction_watchers") == 1
                    assert await metric(watched, "auction_broker_lag_seconds_count") >= 1
                    assert await metric(watched, "auction_bids_total") == 0  # bid elsewhere
    finally:
        first.stop()
        second.stop()
    assert message["seq"] == receipt["seq"]
    assert message["event"]["type"] == "bid_placed"
    assert message["event"]["amount_fen"] == START
