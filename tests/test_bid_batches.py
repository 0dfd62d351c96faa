"""Bids arriving together are decided together: one transaction, in the order they came, each
with its own answer, and exactly what deciding them one after another would give."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.accounts.models import Role, User
from app.audit.models import EventRecord
from app.bidding import service
from app.bidding.batching import BidQueues, PendingBid
from app.bidding.schemas import BidRequest
from app.errors import AppError
from tests.factories import approve_bidder, create_lot, lifecycle, make_person
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

    assert all(isinstance(a, AppError) and a.code == "bid_not_decided" for a in answers)
    assert answers[0] is not answers[1]  # each request raises its own error
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


async def test_one_key_on_two_lots_at_once_costs_the_other_bids_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    """Keys are per bidder: the same key sent to two lots at once is one bid and one refusal.
    On PostgreSQL the two batches can both find the key unused and the second one's insert
    fails at the first one's commit; its other bids must still be placed."""
    first_lot, official, [(chen, _), (li, _)] = await open_lot(client, app)
    maker = app.state.sessionmaker
    second_lot = (await create_lot(client, official))["id"]
    await lifecycle(client, second_lot, official, "publish")
    wang = await make_person(client, maker, Role.BIDDER)
    for person in (wang, chen):
        await approve_bidder(client, second_lot, official, person)
    await lifecycle(client, second_lot, official, "open")
    chen_user, li_user, wang_user = await _users(app, chen.id, li.id, wang.id)

    def place(user: User, lot_id: int, amount: int, key: str) -> Any:
        return service.place_bid(maker, user, lot_id, BidRequest(amount_fen=amount), key)

    answers = await asyncio.gather(
        place(chen_user, first_lot, START, "same-key"),
        place(li_user, first_lot, START + STEP, "li-1"),
        place(wang_user, second_lot, START, "wang-1"),
        place(chen_user, second_lot, START + STEP, "same-key"),
        return_exceptions=True,
    )

    chen_first, li_answer, wang_answer, chen_second = answers
    assert isinstance(li_answer, dict)
    assert isinstance(wang_answer, dict)
    outcomes = sorted(
        ("placed" if isinstance(a, dict) else a.code) for a in (chen_first, chen_second)
    )
    assert outcomes == ["idempotency_key_reused", "placed"]


async def test_a_bid_whose_batch_never_started_is_answered_when_the_server_stops() -> None:
    queues = BidQueues()

    async def never(lot_id: int, batch: list[PendingBid]) -> None:
        raise AssertionError("the batch must not run")

    bid = PendingBid(cast(User, None), BidRequest(amount_fen=START), "k", "k")
    waiting = asyncio.ensure_future(queues.submit(7, bid, never))
    await asyncio.sleep(0)  # submitted; its drainer has not run yet

    await queues.close()

    async with asyncio.timeout(5):
        with pytest.raises(AppError) as refused:
            await waiting
    assert refused.value.code == "bid_not_decided"
