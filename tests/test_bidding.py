"""Bidding over HTTP: receipts, idempotency, the public ladder, deadlines and bad input."""

from __future__ import annotations

import asyncio
import base64
import sqlite3
from datetime import timedelta
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app.accounts.models import Role
from app.audit import chain
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

START = 30_000_000
STEP = 500_000


async def open_lot(
    client: httpx.AsyncClient, app: FastAPI, bidders: int = 2, rules: dict[str, Any] | None = None
) -> tuple[int, Person, list[tuple[Person, str]]]:
    maker = app.state.sessionmaker
    official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
    body = None
    if rules is not None:
        from tests.factories import TIMED_LOT

        body = {**TIMED_LOT, "rules": rules}
    lot = await create_lot(client, official, body)
    await lifecycle(client, lot["id"], official, "publish")
    people = []
    for _ in range(bidders):
        person = await make_person(client, maker, Role.BIDDER)
        people.append((person, await approve_bidder(client, lot["id"], official, person)))
    await lifecycle(client, lot["id"], official, "open")
    return lot["id"], official, people


async def event_count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(EventRecord))).scalar_one()


async def test_an_accepted_bid_returns_a_signed_receipt(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, number), _] = await open_lot(client, app)

    response = await bid(client, lot_id, chen, START)

    assert response.status_code == 201, response.text
    receipt = response.json()
    assert receipt["bidder_number"] == number
    assert receipt["amount_fen"] == START
    assert receipt["at"].endswith("Z")
    signed = {
        k: receipt[k]
        for k in ("lot_id", "bidder_number", "action", "amount_fen", "at", "seq", "hash")
    }
    key = Ed25519PublicKey.from_public_bytes(base64.b64decode(receipt["public_key"]))
    key.verify(base64.b64decode(receipt["signature"]), chain.canonical_json(signed))
    async with app.state.sessionmaker() as session:
        record = (
            await session.execute(select(EventRecord).where(EventRecord.hash == receipt["hash"]))
        ).scalar_one()
    assert (record.lot_id, record.lot_seq) == (lot_id, receipt["seq"])

    snapshot = (await client.get(f"/api/lots/{lot_id}")).json()
    assert snapshot["current_price_fen"] == START
    assert snapshot["leader"] == number
    assert snapshot["seq"] == receipt["seq"]


async def test_a_retried_bid_returns_the_first_receipt_and_bids_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), _] = await open_lot(client, app)
    first = await bid(client, lot_id, chen, START, key="retry-me")
    events = await event_count(app)

    again = await bid(client, lot_id, chen, START, key="retry-me")

    assert again.status_code == 201
    assert again.json() == first.json()
    assert await event_count(app) == events


async def test_the_same_key_with_another_body_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), _] = await open_lot(client, app)
    await bid(client, lot_id, chen, START, key="k1")
    response = await bid(client, lot_id, chen, START + STEP, key="k1")
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_reused"


async def test_a_bid_without_an_idempotency_key_is_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), _] = await open_lot(client, app)
    response = await client.post(
        f"/api/lots/{lot_id}/bids", json={"amount_fen": START}, headers=chen.headers
    )
    assert response.status_code == 400
    assert response.json()["code"] == "idempotency_key_required"


async def test_rule_refusals_have_stable_codes_and_write_nothing(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), (li, _)] = await open_lot(client, app)
    assert (await bid(client, lot_id, chen, START)).status_code == 201
    events = await event_count(app)

    cases = [
        (chen, START + STEP, 409, "already_leading"),
        (li, START, 422, "bid_too_low"),
        (li, START + STEP + 1, 422, "not_a_multiple_of_step"),
    ]
    for person, amount, status, code in cases:
        response = await bid(client, lot_id, person, amount)
        assert (response.status_code, response.json()["code"]) == (status, code), response.text
        assert response.json()["current_price_fen"] == START  # to try again without a re-read
    assert await event_count(app) == events


BAD_BODIES = [
    pytest.param({"amount_fen": -500}, id="negative"),
    pytest.param({"amount_fen": 0}, id="zero"),
    pytest.param({"amount_fen": 30000000.5}, id="fractional"),
    pytest.param({"amount_fen": 2**64 + 1}, id="beyond-64-bits"),
    pytest.param({"amount_fen": "30000000"}, id="string"),
    pytest.param({"amount_fen": True}, id="boolean"),
    pytest.param({}, id="missing"),
    pytest.param({"amount_fen": START, "bidder": "A01"}, id="unknown-field"),
]


@pytest.mark.parametrize("body", BAD_BODIES)
async def test_a_malformed_amount_is_a_clear_problem_and_writes_nothing(
    client: httpx.AsyncClient, app: FastAPI, body: dict[str, Any]
) -> None:
    lot_id, _, [(chen, _), _] = await open_lot(client, app)
    events = await event_count(app)
    response = await client.post(
        f"/api/lots/{lot_id}/bids",
        json=body,
        headers={**chen.headers, "Idempotency-Key": "bad"},
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "validation_failed"
    assert response.json()["detail"]
    assert await event_count(app) == events


async def test_malformed_json_unknown_lots_and_oversized_bodies_are_refused(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), _] = await open_lot(client, app)
    events = await event_count(app)
    headers = {**chen.headers, "Idempotency-Key": "x", "Content-Type": "application/json"}

    malformed = await client.post(
        f"/api/lots/{lot_id}/bids", content=b'{"amount_fen": ', headers=headers
    )
    assert (malformed.status_code, malformed.json()["code"]) == (422, "malformed_json")

    unknown = await client.post(
        "/api/lots/999999/bids", json={"amount_fen": START}, headers=headers
    )
    assert (unknown.status_code, unknown.json()["code"]) == (404, "lot_not_found")

    not_a_number = await client.get("/api/lots/abc")
    assert not_a_number.status_code == 422

    huge = b'{"amount_fen": ' + b"1" * 100_000 + b"}"
    oversized = await client.post(f"/api/lots/{lot_id}/bids", content=huge, headers=headers)
    assert (oversized.status_code, oversized.json()["code"]) == (413, "body_too_large")
    assert await event_count(app) == events


async def test_the_public_ladder_shows_bidder_numbers_only(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, chen_no), (li, li_no)] = await open_lot(client, app)
    await bid(client, lot_id, chen, START)
    await bid(client, lot_id, li, START + STEP)

    ladder = (await client.get(f"/api/lots/{lot_id}/bids")).json()

    assert [(b["bidder_number"], b["amount_fen"]) for b in ladder] == [
        (chen_no, START),
        (li_no, START + STEP),
    ]
    assert chen.username not in str(ladder)


async def test_a_bid_after_the_deadline_is_refused_even_before_the_scheduler_runs(
    client: httpx.AsyncClient, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    lot_id, _, [(chen, _), (li, _)] = await open_lot(client, app)
    assert (await bid(client, lot_id, chen, START)).status_code == 201
    deadline = (await client.get(f"/api/lots/{lot_id}")).json()["deadline"]
    assert deadline is not None

    import app.lots.ledger as ledger
    from app.db import utcnow

    monkeypatch.setattr(ledger, "utcnow", lambda: utcnow() + timedelta(seconds=301))
    late = await bid(client, lot_id, li, START + STEP)

    assert late.status_code == 409
    assert late.json()["code"] == "deadline_passed"


async def test_a_bidder_bidding_too_fast_is_slowed_down_and_nothing_is_written(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), _] = await open_lot(client, app)
    events = await event_count(app)
    per_user, _ = app.state.bid_limits
    answers = [
        (await bid(client, lot_id, chen, START + n * STEP)) for n in range(int(per_user.burst) + 3)
    ]
    limited = [a for a in answers if a.status_code == 429]
    assert limited, "the burst was never limited"
    assert {a.json()["code"] for a in limited} == {"rate_limited"}
    assert all(a.json()["retry_after"] >= 1 for a in limited)
    accepted = sum(a.status_code == 201 for a in answers)
    assert await event_count(app) == events + accepted
    metrics = (await client.get("/metrics")).text
    assert f'auction_bids_total{{outcome="rate_limited"}} {len(limited)}.0' in metrics


async def test_metrics_count_bids_by_outcome_and_events_by_type(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    lot_id, _, [(chen, _), (li, _)] = await open_lot(client, app)
    await bid(client, lot_id, chen, START)
    await bid(client, lot_id, li, START)  # too low

    text = (await client.get("/metrics")).text

    assert 'auction_bids_total{outcome="accepted"} 1.0' in text
    assert 'auction_bids_total{outcome="bid_too_low"} 1.0' in text
    assert 'auction_events_appended_total{type="bid_placed"} 1.0' in text
    assert "auction_bid_seconds_count 2.0" in text
    assert "auction_watchers 0.0" in text


async def test_the_ladder_keeps_only_the_last_raise_of_a_sequential_turn(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    maker = app.state.sessionmaker
    official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
    rules = {"start_price_fen": START, "step_fen": STEP, "first_pause_s": 1, "turn_s": 60}
    body = {**TIMED_LOT, "format": "sequential", "rules": rules}
    lot_id = (await create_lot(client, official, body))["id"]
    await lifecycle(client, lot_id, official, "publish")
    chen, li = [await make_person(client, maker, Role.BIDDER) for _ in range(2)]
    await approve_bidder(client, lot_id, official, chen, initial_bid_fen=START + STEP)
    li_no = await approve_bidder(client, lot_id, official, li, initial_bid_fen=START)
    await lifecycle(client, lot_id, official, "open")
    await asyncio.sleep(1.1)  # the first pause; the lowest bid has the first turn

    assert (await bid(client, lot_id, li, START + 2 * STEP)).status_code == 201
    assert (await bid(client, lot_id, li, START + 3 * STEP)).status_code == 201  # revised
    ladder = (await client.get(f"/api/lots/{lot_id}/bids")).json()
    assert [(b["bidder_number"], b["amount_fen"]) for b in ladder] == [(li_no, START + 3 * STEP)]

    withdrawn = await client.post(
        f"/api/lots/{lot_id}/bids",
        json={"action": "withdraw"},
        headers={**li.headers, "Idempotency-Key": "withdraw-1"},
    )
    assert withdrawn.status_code == 201, withdrawn.text
    assert (await client.get(f"/api/lots/{lot_id}/bids")).json() == []


async def test_a_write_lock_held_by_another_process_never_stalls_the_server(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings
) -> None:
    """SQLite: while another program holds the write lock, a bid waits for it off the event
    loop, so the service keeps answering everyone else; then the bid goes through."""
    if not settings.is_sqlite:
        pytest.skip("SQLite's file lock; PostgreSQL locks rows")
    lot_id, _, [(bidder, _), _] = await open_lot(client, app)
    database = make_url(settings.effective_database_url).database
    assert database is not None
    other = sqlite3.connect(database, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # e.g. a backup, or `auction` run from a shell
    try:
        waiting = asyncio.create_task(bid(client, lot_id, bidder, START))
        for _ in range(3):
            assert (await client.get(f"/api/lots/{lot_id}")).status_code == 200
            assert (await client.get("/healthz")).status_code == 200
        assert not waiting.done()  # the bid still waits for the lock, and only the bid does
    finally:
        other.rollback()
        other.close()
    response = await waiting
    assert response.status_code == 201, response.text
    assert response.json()["amount_fen"] == START
