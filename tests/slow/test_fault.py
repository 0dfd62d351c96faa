"""Faults in the production shape: two app processes behind nginx (deploy/nginx.conf) on
PostgreSQL.

Bidders bid through nginx and retry a failed request with the same Idempotency-Key, as
the browser does. One app process is killed with SIGKILL, then PostgreSQL itself restarts. No
accepted bid may be lost or counted twice, watchers must reconnect and catch up, and the
auction must still end on time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit.models import EventRecord
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from tests.factories import (
    TIMED_LOT,
    Person,
)
from tests.live.clients import Final, RecordingWatcher
from tests.slow.shape import open_lot, production_shape

pytestmark = pytest.mark.slow
COUNTDOWN_S = 6
STEP = TIMED_LOT["rules"]["step_fen"]
_keys = itertools.count()


def restart_postgres() -> None:
    version = subprocess.run(
        ["ls", "/etc/postgresql"], capture_output=True, text=True, check=True
    ).stdout.split()[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        timeout=60,
    )


async def bid_until_answered(url: str, lot_id: int, person: Person, amount: int) -> dict[str, Any]:
    """One bid, retried with the same key through failures until the service answers it."""
    key = f"{person.username}-{next(_keys)}"
    while True:
        try:
            async with httpx.AsyncClient(base_url=url, timeout=5) as client:
                response = await client.post(
                    f"/api/lots/{lot_id}/bids",
                    json={"amount_fen": amount},
                    headers={**person.headers, "Idempotency-Key": key},
                )
            if response.status_code < 500:
                answer: dict[str, Any] = response.json()
                answer["_status"] = response.status_code
                return answer
        except httpx.HTTPError:
            pass
        await asyncio.sleep(0.2)


async def bidder(
    url: str, lot_id: int, person: Person, stop: asyncio.Event, receipts: list[dict[str, Any]]
) -> None:
    price = TIMED_LOT["rules"]["start_price_fen"] - STEP
    while not stop.is_set():
        answer = await bid_until_answered(url, lot_id, person, price + STEP)
        if answer["_status"] == 201:
            receipts.append(answer)
            price = answer["amount_fen"]
        else:
            price = answer.get("current_price_fen") or price
        await asyncio.sleep(0.05)


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_no_bid_is_lost_or_doubled_when_a_process_and_the_database_fail(
    settings: Settings,
    tmp_path: Path,
    maker: async_sessionmaker[AsyncSession],
    figures: Callable[[str], None],
) -> None:
    if settings.is_sqlite:
        pytest.skip("the production shape runs on PostgreSQL")
    env = {"AUCTION_WS_HEARTBEAT_S": "0.5"}
    async with production_shape(settings, tmp_path, env) as shape:
        first = shape.servers[0]
        lot_id, people = await open_lot(shape.url, maker, bidders=4, countdown_s=COUNTDOWN_S)
        final = Final()
        watchers = [RecordingWatcher(shape.url, lot_id) for _ in range(20)]
        watching = [asyncio.create_task(w.watch(final, 40)) for w in watchers]
        stop, receipts = asyncio.Event(), list[dict[str, Any]]()
        bidding = [
            asyncio.create_task(bidder(shape.url, lot_id, p, stop, receipts)) for p in people
        ]
        await asyncio.sleep(3)
        first.kill()
        killed_at = len(receipts)
        await asyncio.sleep(3)
        await asyncio.to_thread(restart_postgres)
        restarted_at = len(receipts)
        await asyncio.sleep(4)
        stop.set()
        await asyncio.gather(*bidding)

        async with httpx.AsyncClient(base_url=shape.url, timeout=30) as client:
            deadline = parse((await client.get(f"/api/lots/{lot_id}")).json()["deadline"])
            async with asyncio.timeout(COUNTDOWN_S + 20):
                while (lot := (await client.get(f"/api/lots/{lot_id}")).json())["status"] != (
                    "closed"
                ):
                    await asyncio.sleep(0.2)
        final.seq = lot["seq"]
        await asyncio.wait_for(asyncio.gather(*watching), timeout=60)
        statuses = shape.nginx.access_statuses()

    figures(
        f"{len(receipts)} bids accepted ({killed_at} before the kill, {restarted_at} before the "
        f"database restart); nginx answered {dict(sorted(statuses.items()))}; "
        f"{sum(w.connections for w in watchers)} watcher connections"
    )

    # The test's own pooled connections died with the restart too (engines do not ping before
    # use): read the log over fresh ones.
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            events = (
                (
                    await session.execute(
                        select(EventRecord)
                        .where(EventRecord.lot_id == lot_id)
                        .order_by(EventRecord.lot_seq)
                    )
                )
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    bids = [e for e in events if e.type == "bid_placed"]
    assert len(receipts) > 20
    # The surviving process took bids while the other was dead, and both did after the restart.
    assert killed_at < restarted_at < len(receipts)
    assert sorted(r["hash"] for r in receipts) == sorted(
        e.hash for e in bids
    )  # none lost or doubled
    ended = next(e for e in events if e.type == "bidding_ended")
    assert parse(json.loads(ended.payload)["ended_at"]) == deadline  # ended on time
    assert lot["result"]["price_fen"] == max(r["amount_fen"] for r in receipts)
    for watcher in watchers:
        assert watcher.seqs == list(range((watcher.snapshot_seq or 0) + 1, final.seq + 1))
