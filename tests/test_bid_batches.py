"""Bids arriving together are decided together: one transaction, in the order they came, each
with its own answer, and exactly what deciding them one after another would give."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.accounts.models import User
from app.audit.models import EventRecord
from app.bidding import service
from app.bidding.batching import BidQueues, PendingBid
from app.bidding.schemas import BidRequest
from app.errors import AppError
from tests.test_bidding import START, STEP, event_count, open_lot


async def _users(app: FastAPI, *ids: int) -> list[User]:
    async with app.state.sessionmaker() as session:
        return [await session.get_one(User, user_id) for user_id in ids]


async def _together(app: FastAPI, bids: list[tuple[User, int, str]], lot_id: int) -> list[Any]:
    """Submit ``bids`` at once (they join one batch) and return each answer or refusal."""
    maker = app.state.sessionmaker
    return await asyncio.gather(
        *(
            service.place_bid(maker, user, lot_id, BidRequest(amount_fen=amount), key)
            for user, amount, key in bids
        ),
        return_exceptions=True,
    )


async def _placed(app: FastAPI, lot_id: int) -> list[tuple[int, str]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            select(EventRecord.lot_seq, EventRecord.payload)
            .where(EventRecord.lot_id == lot_id, EventRecord.type == "bid_placed")
            .order_by(EventRecord.lot_seq)
        )
        return [(seq, payload) for seq, payload in rows.all()]


async def test_bids_arriving_together_are_decided_in_order_each_with_its_answer(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), (li, _), (wang, _)] = await open_lot(client, app, bidders=3)
    chen_user, li_user, wang_user = await _users(app, chen.id, li.id, wang.id)

    answers = await _together(
        app,
        [
            (chen_user, START, "a"),  # the opening bid
            (li_user, START, "b"),  # the same amount, too late by one place
            (li_user, START + STEP, "c"),  # beats chen
            (chen_user, START + 3 * STEP, "d"),  # beats li
            (wang_user, START + 2 * STEP, "e"),  # below chen's new price
        ],
        lot_id,
    )

    accepted = [a for a in answers if isinstance(a, dict)]
    assert [a["amount_fen"] for a in accepted] == [START, START + STEP, START + 3 * STEP]
    assert [a["seq"] for a in accepted] == sorted(a["seq"] for a in accepted)
    too_low = [a for a in answers if isinstance(a, AppError)]
    assert [a.code for a in too_low] == ["bid_too_low", "bid_too_low"]
    # Each refusal names the standing it was judged against, bids before it in the batch included.
    assert [a.extra["current_price_fen"] for a in too_low] == [START, START + 3 * STEP]
    assert [seq for seq, _ in await _placed(app, lot_id)] == [a["seq"] for a in accepted]


async def test_one_key_sent_twice_in_one_batch_bids_once_and_answers_twice(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), _] = await open_lot(client, app)
    [chen_user] = await _users(app, chen.id)
    before = await event_count(app)

    first, again, other_body = await _together(
        app,
        [
            (chen_user, START, "twice"),
            (chen_user, START, "twice"),
            (chen_user, START + STEP, "twice"),
        ],
        lot_id,
    )

    assert first == again
    assert isinstance(other_body, AppError)
    assert other_body.code == "idempotency_key_reused"
    assert await event_count(app) == before + 1


async def test_a_refusal_in_a_batch_costs_the_accepted_bids_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), (li, _)] = await open_lot(client, app)
    outsider_person = (await open_lot(client, app))[2][0][0]  # approved on another lot only
    chen_user, li_user, outsider = await _users(app, chen.id, li.id, outsider_person.id)

    answers = await _together(
        app,
        [(chen_user, START, "x1"), (outsider, START + STEP, "x2"), (li_user, START + STEP, "x3")],
        lot_id,
    )

    assert isinstance(answers[1], AppError)
    assert answers[1].code == "bidder_not_qualified"
    assert [a["amount_fen"] for a in (answers[0], answers[2])] == [START, START + STEP]


async def test_a_failing_batch_writes_nothing_and_tells_every_bidder(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    lot_id, _, [(chen, _), (li, _)] = await open_lot(client, app)
    chen_user, li_user = await _users(app, chen.id, li.id)
    before = await event_count(app)

    def broken_receipt(*args: Any, **kwargs: Any) -> dict[str, Any]:
        raise RuntimeError("the signing key is unreadable")

    monkeypatch.setattr(service, "receipt", broken_receipt)
    answers = await _together(
        app, [(chen_user, START, "f1"), (li_user, START + STEP, "f2")], lot_id
    )

    assert all(isinstance(a, RuntimeError) for a in answers)
    assert await event_count(app) == before
    monkeypatch.undo()
    retried = await _together(app, [(chen_user, START, "f1")], lot_id)
    assert retried[0]["amount_fen"] == START


async def test_bids_waiting_when_the_server_stops_are_told_to_send_again() -> None:
    queues = BidQueues()
    started = asyncio.Event()

    async def stuck(lot_id: int, batch: list[PendingBid]) -> None:
        started.set()
        await asyncio.Event().wait()  # a batch still writing when the server stops

    request = BidRequest(amount_fen=START)
    bids = [PendingBid(cast(User, None), request, key, key) for key in ("in-batch", "waiting")]
    first = asyncio.ensure_future(queues.submit(7, bids[0], stuck))
    await started.wait()
    second = asyncio.ensure_future(queues.submit(7, bids[1], stuck))
    await asyncio.sleep(0)

    await queues.close()

    async with asyncio.timeout(5):  # nobody is left waiting
        answers = await asyncio.gather(first, second, return_exceptions=True)
    for answer in answers:
        assert isinstance(answer, AppError)
        assert (answer.status, answer.code) == (503, "bid_not_decided")
