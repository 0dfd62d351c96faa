"""Use cases of bidding: place a bid (or keep, or withdraw a raise), decide on a priority right."""

from __future__ import annotations

import functools
import hashlib
import logging
import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import auction
from app.accounts.models import User
from app.audit import chain
from app.audit import service as audit_service
from app.audit.models import EventRecord
from app.bidding.batching import PendingBid, not_decided
from app.bidding.models import IdempotentRequest
from app.bidding.schemas import BidRequest
from app.db import transaction
from app.errors import AppError, Conflict, rule_error
from app.lots import ledger
from app.lots import registrations as registrations_service
from app.lots.models import Lot
from app.lots.service import actor_of
from app.runtime import runtime_of

logger = logging.getLogger(__name__)
MAX_KEY_LENGTH = 100
PUBLIC_BID_EVENTS = ("bid_placed",)
"""Events that put a bid on the public ladder; sealed bids are not among them until revealed."""
BID_EVENTS = (*PUBLIC_BID_EVENTS, "raise_withdrawn", "turn_ended")


# On the table, not the entity: a Core statement skips the ORM's per-statement work.
_IDEMPOTENT = IdempotentRequest.__table__.c
_EARLIER = select(
    _IDEMPOTENT.user_id, _IDEMPOTENT.key, _IDEMPOTENT.request_hash, _IDEMPOTENT.response
)


def _key_reused() -> AppError:
    return Conflict("idempotency_key_reused", "This Idempotency-Key was used for another request.")


def _not_qualified() -> AppError:
    return AppError(403, "bidder_not_qualified", "You are not an approved bidder of this lot.")


def _check_key(key: str | None) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise AppError(
            400,
            "idempotency_key_required",
            f"Send an Idempotency-Key header (1 to {MAX_KEY_LENGTH} printable characters), "
            "new for each bid and the same when retrying it.",
        )
    return key


async def _bidder_number(session: AsyncSession, bidder: User, lot_id: int) -> str:
    number = await registrations_service.approved_number(session, bidder, lot_id)
    if number is None:
        raise _not_qualified()
    return number


def _command(number: str, request: BidRequest) -> auction.Command:
    if request.action == "keep":
        return auction.Keep(number)
    if request.action == "withdraw":
        return auction.WithdrawRaise(number)
    assert request.amount_fen is not None
    return auction.PlaceBid(number, request.amount_fen)


def receipt(
    session: AsyncSession, record: EventRecord, number: str, request: BidRequest
) -> dict[str, Any]:
    """The signed receipt of an accepted bid: the bidder's proof, checkable with the log's key."""
    signer = runtime_of(session).signer
    signed = {
        "lot_id": record.lot_id,
        "bidder_number": number,
        "action": request.action,
        "amount_fen": request.amount_fen,
        "at": auction.format_time(record.at),
        "seq": record.lot_seq,
        "hash": record.hash,
    }
    return {
        **signed,
        "signature": signer.sign(chain.canonical_json(signed)),
        "public_key": signer.public_key_b64,
    }


async def place_bid(
    maker: async_sessionmaker[AsyncSession],
    bidder: User,
    lot_id: int,
    request: BidRequest,
    key: str | None,
) -> dict[str, Any]:
    """Place a bid once: a retry with the same Idempotency-Key returns the first receipt.

    The bid joins the lot's queue and is decided with the others of its batch, in the order
    they came (see ``batching``); the answer comes once that batch has committed.
    """
    runtime = runtime_of(maker)
    metrics = runtime.metrics
    started = time.perf_counter()
    try:
        body = chain.canonical_json({"lot_id": lot_id, **request.model_dump()})
        pending = PendingBid(bidder, request, _check_key(key), hashlib.sha256(body).hexdigest())
        answer = await runtime.bid_queues.submit(
            lot_id, pending, functools.partial(_decide_batch, maker)
        )
    except AppError as exc:
        metrics.bids.labels(exc.code).inc()
        raise
    finally:
        metrics.bid_seconds.observe(time.perf_counter() - started)
    metrics.bids.labels("accepted").inc()
    return answer


async def _decide_batch(
    maker: async_sessionmaker[AsyncSession], lot_id: int, batch: list[PendingBid]
) -> None:
    """Decide ``batch`` in one unit of work; every bid is answered after its commit."""
    outcomes: Sequence[dict[str, Any] | Exception]
    try:
        async with transaction(maker) as session:
            outcomes = await _decide_all(session, lot_id, batch)
    except AppError as exc:  # about the lot (there is no such lot): the same for every bid
        outcomes = [AppError(exc.status, exc.code, exc.detail, extra=exc.extra) for _ in batch]
    except IntegrityError:
        if len(batch) > 1:
            # An Idempotency-Key of the batch was committed meanwhile by a bid on another lot
            # (keys are per bidder): decide the bids one by one, each then sees that answer.
            for pending in batch:
                await _decide_batch(maker, lot_id, [pending])
            return
        logger.exception("a bid on lot %s could not be written", lot_id)
        outcomes = [not_decided()]
    except Exception:
        logger.exception("a batch of bids on lot %s could not be written", lot_id)
        outcomes = [not_decided() for _ in batch]  # nothing was written
    for pending, outcome in zip(batch, outcomes, strict=True):
        pending.settle(outcome)


async def _decide_all(
    session: AsyncSession, lot_id: int, batch: list[PendingBid]
) -> list[dict[str, Any] | Exception]:
    seq = await ledger.lock(session, lot_id)
    # Looked up under the lot's lock: a concurrent retry waits and then finds the first answer.
    pairs = [(pending.bidder.id, pending.key) for pending in batch]
    rows = await session.execute(
        _EARLIER.where(tuple_(_IDEMPOTENT.user_id, _IDEMPOTENT.key).in_(pairs))
    )
    earlier = {(row.user_id, row.key): (row.request_hash, row.response) for row in rows}
    # Read before the first bid is written: the log's head stays locked from then on.
    numbers = [
        await registrations_service.approved_number(session, pending.bidder, lot_id)
        for pending in batch
    ]
    state = await ledger.state_at(session, lot_id, seq)
    lot: Lot | None = None
    outcomes: list[dict[str, Any] | Exception] = []
    for pending, number in zip(batch, numbers, strict=True):
        bidder, request = pending.bidder, pending.request
        first = earlier.get((bidder.id, pending.key))
        if first is not None:
            same = first[0] == pending.request_hash
            outcomes.append(first[1] if same else _key_reused())
            continue
        if number is None:
            outcomes.append(_not_qualified())
            continue
        try:
            events = ledger.decide(state, _command(number, request))
        except auction.RuleViolation as exc:
            # The standing the bid was judged against, so the bidder can try again at once.
            standing = {"current_price_fen": state.current_price_fen, "leader": state.leader}
            outcomes.append(rule_error(exc, **standing, seq=seq))
            continue
        lot = lot or await ledger.locked_lot(session, lot_id)
        outcome = await ledger.record(session, lot, state, events, actor=actor_of(bidder))
        state, seq = outcome.state, lot.seq
        answer = receipt(session, outcome.records[0], number, request)
        session.add(
            IdempotentRequest(
                user_id=bidder.id,
                key=pending.key,
                lot_id=lot_id,
                request_hash=pending.request_hash,
                status_code=201,
                response=answer,
            )
        )
        earlier[(bidder.id, pending.key)] = (pending.request_hash, answer)
        outcomes.append(answer)
    return outcomes


async def decide_priority(session: AsyncSession, holder: User, lot_id: int, match: bool) -> Lot:
    lot = await ledger.lock_lot(session, lot_id)
    number = await _bidder_number(session, holder, lot_id)
    command = auction.PriorityDecision(number, match)
    await ledger.execute(session, lot, command, actor=actor_of(holder))
    return lot


async def public_ladder(session: AsyncSession, lot: Lot) -> list[dict[str, Any]]:
    """The standing bids in the order they came. In sequential rounds a bidder's turn keeps
    only its last raise: a revision replaces the raise before it, a withdrawal removes it."""
    if lot.format == "sealed" and lot.status not in ("closed", "cancelled"):
        return []  # sealed bids are opened together when the lot closes (开标)
    rows = await session.execute(
        select(EventRecord)
        .where(
            EventRecord.lot_id == lot.id,
            EventRecord.type.in_((*PUBLIC_BID_EVENTS, "raise_withdrawn")),
        )
        .order_by(EventRecord.lot_seq)
    )
    ladder: dict[object, dict[str, Any]] = {}
    for record in rows.scalars():
        data = audit_service.event_data(record)
        turn = (data["bidder"], data.get("round"))
        key = turn if lot.format == "sequential" else record.lot_seq
        if record.type == "raise_withdrawn":
            ladder.pop(key, None)
            continue
        ladder.pop(key, None)  # a revision moves to where it was made
        ladder[key] = {
            "seq": record.lot_seq,
            "bidder_number": data["bidder"],
            "amount_fen": data["amount_fen"],
            "at": record.at,
        }
    return list(ladder.values())


async def bids_of(session: AsyncSession, bidder: User) -> list[dict[str, Any]]:
    """Every accepted action of the bidder, newest first (sealed amounts included: their own)."""
    rows = await session.execute(
        select(EventRecord)
        .where(EventRecord.actor == actor_of(bidder), EventRecord.type.in_(BID_EVENTS))
        .order_by(EventRecord.seq.desc())
        .limit(500)
    )
    return [
        {
            "lot_id": r.lot_id,
            "seq": r.lot_seq,
            "type": r.type,
            "at": r.at,
            "hash": r.hash,
            "data": audit_service.event_data(r),
        }
        for r in rows.scalars()
    ]
