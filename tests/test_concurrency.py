"""Many bidders at once on one lot, through real uvicorn processes sharing the database.

On PostgreSQL two processes serve the same lot; on SQLite one. Whatever the interleaving:
accepted bids form one strictly increasing sequence, every 2xx receipt is in the log exactly
once, every refusal has a code, and nothing answers 5xx.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import Role
from app.audit.models import EventRecord
from app.config import Settings
from tests.factories import (
    TIMED_LOT,
    approve_bidder,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.servers import Server

BIDDERS = 50
BIDS_EACH = 6
STEP = TIMED_LOT["rules"]["step_fen"]


@pytest.fixture
def servers(settings: Settings, tmp_path: Path) -> Iterator[list[Server]]:
    count = 1 if settings.is_sqlite else 2
    started = [Server(settings, tmp_path).start() for _ in range(count)]
    yield started
    for server in started:
        server.stop()


async def bidder_loop(
    client: httpx.AsyncClient, urls: list[str], lot_id: int, headers: dict[str, str], me: str
) -> list[httpx.Response]:
    responses = []
    for attempt in range(BIDS_EACH):
        url = random.choice(urls)
        lot = (await client.get(f"{url}/api/lots/{lot_id}")).json()
        price = lot["current_price_fen"]
        amount = TIMED_LOT["rules"]["start_price_fen"] if price is None else price + STEP
        response = await client.post(
            f"{url}/api/lots/{lot_id}/bids",
            json={"amount_fen": amount},
            headers={**headers, "Idempotency-Key": f"{me}-{attempt}"},
        )
        responses.append(response)
    return responses


async def test_concurrent_bidders_form_one_strictly_increasing_sequence(
    servers: list[Server], maker: async_sessionmaker[AsyncSession]
) -> None:
    urls = [server.url for server in servers]
    async with httpx.AsyncClient(base_url=urls[0], timeout=30) as client:
        official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
        lot = await create_lot(
            client, official, {**TIMED_LOT, "rules": {**TIMED_LOT["rules"], "countdown_s": 600}}
        )
        await lifecycle(client, lot["id"], official, "publish")
        bidders = []
        for _ in range(BIDDERS):
            person = await make_person(client, maker, Role.BIDDER)
            await approve_bidder(client, lot["id"], official, person)
            bidders.append(person)
        await lifecycle(client, lot["id"], official, "open")

        results = await asyncio.gather(
            *(
                bidder_loop(client, urls, lot["id"], person.headers, person.username)
                for person in bidders
            )
        )

    responses = [response for per_bidder in results for response in per_bidder]
    assert all(r.status_code < 500 for r in responses), [
        r.text for r in responses if r.status_code >= 500
    ]
    receipts = [r.json() for r in responses if r.status_code == 201]
    refusals = [r.json() for r in responses if r.status_code >= 400]
    assert receipts, "no bid was accepted"
    assert all(refusal["code"] for refusal in refusals)
    assert {refusal["code"] for refusal in refusals} <= {"bid_too_low", "already_leading"}

    async with maker() as session:
        logged = (
            (
                await session.execute(
                    select(EventRecord)
                    .where(EventRecord.lot_id == lot["id"], EventRecord.type == "bid_placed")
                    .order_by(EventRecord.lot_seq)
                )
            )
            .scalars()
            .all()
        )
    assert sorted(r["hash"] for r in receipts) == sorted(e.hash for e in logged)
    amounts = [r["amount_fen"] for r in sorted(receipts, key=lambda r: r["seq"])]
    assert all(b >= a + STEP for a, b in zip(amounts, amounts[1:], strict=False))
