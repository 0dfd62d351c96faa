"""Faults in the production shape: two app processes behind a load balancer on PostgreSQL.

Bidders bid through the balancer and retry a failed request with the same Idempotency-Key, as
the browser does. One app process is killed with SIGKILL, then PostgreSQL itself restarts. No
accepted bid may be lost or counted twice, watchers must reconnect and catch up, and the
auction must still end on time.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import subprocess
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import Role
from app.audit.models import EventRecord
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from tests.factories import (
    TIMED_LOT,
    Person,
    approve_bidder,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.live.clients import Final, RecordingWatcher
from tests.proxy import TcpBalancer
from tests.servers import Server

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
    settings: Settings, tmp_path: Path, maker: async_sessionmaker[AsyncSession]
) -> None:
    if settings.is_sqlite:
        pytest.skip("the production shape runs on PostgreSQL")
    env = {"AUCTION_WS_HEARTBEAT_S": "0.5"}
    first, second = (Server(settings, tmp_path, **env).start() for _ in range(2))
    balancer = await TcpBalancer([("127.0.0.1", first.port), ("127.0.0.1", second.port)]).start()
    try:
        async with httpx.AsyncClient(base_url=balancer.url, timeout=30) as client:
            official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
            rules = {**TIMED_LOT["rules"], "countdown_s": COUNTDOWN_S}
            lot_id = (await create_lot(client, official, {**TIMED_LOT, "rules": rules}))["id"]
            await lifecycle(client, lot_id, official, "publish")
            people = [await make_person(client, maker, Role.BIDDER) for _ in range(4)]
            for person in people:
                await approve_bidder(client, lot_id, official, person)
            await lifecycle(client, lot_id, official, "open")

        final = Final()
        watchers = [RecordingWatcher(balancer.url, lot_id) for _ in range(20)]
        watching = [asyncio.create_task(w.watch(final, 40)) for w in watchers]
        stop, receipts = asyncio.Event(), []
        bidding = [
            asyncio.create_task(bidder(balancer.url, lot_id, p, stop, receipts)) for p in people
        ]
        await asyncio.sleep(3)
        first.kill()
        await asyncio.sleep(3)
        await asyncio.to_thread(restart_postgres)
        await asyncio.sleep(4)
        stop.set()
        await asyncio.gather(*bidding)

        async with httpx.AsyncClient(base_url=balancer.url, timeout=30) as client:
            deadline = parse((await client.get(f"/api/lots/{lot_id}")).json()["deadline"])
            async with asyncio.timeout(COUNTDOWN_S + 20):
                while (lot := (await client.get(f"/api/lots/{lot_id}")).json())["status"] != (
                    "closed"
                ):
                    await asyncio.sleep(0.2)
        final.seq = lot["seq"]
        await asyncio.wait_for(asyncio.gather(*watching), timeout=60)
    finally:
        await balancer.close()
        first.stop()
        second.stop()

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
    assert sorted(r["hash"] for r in receipts) == sorted(
        e.hash for e in bids
    )  # none lost or doubled
    ended = next(e for e in events if e.type == "bidding_ended")
    assert parse(json.loads(ended.payload)["ended_at"]) == deadline  # ended on time
    assert lot["result"]["price_fen"] == max(r["amount_fen"] for r in receipts)
    for watcher in watchers:
        assert watcher.seqs == list(range((watcher.snapshot_seq or 0) + 1, final.seq + 1))
