"""A server killed with SIGKILL mid-round: on restart the round still ends at its stored
deadline and no accepted bid is lost."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime
from pathlib import Path

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import Role
from app.audit.models import EventRecord
from app.config import Settings
from tests.factories import (
    TIMED_LOT,
    approve_bidder,
    bid,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.servers import Server, metric

COUNTDOWN_S = 4


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def test_a_round_ends_at_its_stored_deadline_after_a_kill_and_restart(
    settings: Settings, tmp_path: Path, maker: async_sessionmaker[AsyncSession]
) -> None:
    server = Server(settings, tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
            rules = {**TIMED_LOT["rules"], "countdown_s": COUNTDOWN_S}
            lot = await create_lot(client, official, {**TIMED_LOT, "rules": rules})
            lot_id = lot["id"]
            await lifecycle(client, lot_id, official, "publish")
            chen = await make_person(client, maker, Role.BIDDER)
            li = await make_person(client, maker, Role.BIDDER)
            await approve_bidder(client, lot_id, official, chen)
            li_number = await approve_bidder(client, lot_id, official, li)
            await lifecycle(client, lot_id, official, "open")
            receipts = [
                (await bid(client, lot_id, chen, 30_000_000)).json(),
                (await bid(client, lot_id, li, 30_500_000)).json(),
            ]
            deadline = parse((await client.get(f"/api/lots/{lot_id}")).json()["deadline"])

            server.kill()
            await asyncio.sleep(1)
            server.start()

            closed = None
            for _ in range(100):
                closed = (await client.get(f"/api/lots/{lot_id}")).json()
                if closed["status"] == "closed":
                    break
                await asyncio.sleep(0.1)
            # The restarted process's scheduler ended the round, and said how late it was.
            assert await metric(client, "auction_scheduler_lag_seconds_count") >= 1
    finally:
        server.stop()

    assert closed is not None
    assert closed["status"] == "closed"
    assert closed["result"]["outcome"] == "sold"
    assert closed["result"]["winner"] == li_number
    assert closed["result"]["price_fen"] == 30_500_000
    async with maker() as session:
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
    hashes = {event.hash for event in events}
    assert all(receipt["hash"] in hashes for receipt in receipts)
    ended = next(event for event in events if event.type == "bidding_ended")
    # Bidding ended exactly at the stored deadline, however long the restart took; the
    # restarted scheduler recorded it no earlier than that.
    assert parse(json.loads(ended.payload)["ended_at"]) == deadline
    assert deadline <= ended.at
