"""Appending to the event log, reading a lot's events back, and searching the log."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import auction
from app.accounts.models import User
from app.audit import chain
from app.audit.models import EventRecord, LogHead
from app.lots.models import Registration

_LOCK_HEAD = select(LogHead).with_for_update()


async def append_events(
    session: AsyncSession,
    *,
    lot_id: int | None,
    last_lot_seq: int | None,
    lot_head_hash: str | None,
    events: Sequence[auction.Event],
    actor: str,
) -> list[EventRecord]:
    """Number, chain and insert ``events``; the caller updates the read model in the same unit.

    Locks the log head row: the chain is one line, so appends are serialised here. The caller
    locks the lot first and calls this last, so the head is held only for the insert and commit.
    """
    if not events:
        return []
    head = (await session.execute(_LOCK_HEAD)).scalar_one()
    records = []
    prev_hash, seq, lot_seq = head.hash, head.seq, last_lot_seq
    lot_prev_hash = None if lot_id is None else (lot_head_hash or chain.GENESIS_HASH)
    for new_event in events:
        seq += 1
        lot_seq = None if lot_id is None else (lot_seq or 0) + 1
        at = auction.format_time(new_event.at)
        body = chain.record_body(
            seq=seq,
            lot_id=lot_id,
            lot_seq=lot_seq,
            lot_prev_hash=lot_prev_hash,
            type=new_event.type,
            at=at,
            actor=actor,
            data=new_event.data,
        )
        digest = chain.link_hash(prev_hash, body)
        records.append(
            EventRecord(
                seq=seq,
                lot_id=lot_id,
                lot_seq=lot_seq,
                type=new_event.type,
                payload=chain.canonical_json(new_event.data).decode(),
                actor=actor,
                at=new_event.at,
                prev_hash=prev_hash,
                lot_prev_hash=lot_prev_hash,
                hash=digest,
            )
        )
        prev_hash = digest
        if lot_id is not None:
            lot_prev_hash = digest
    session.add_all(records)
    head.seq, head.hash = seq, prev_hash
    await session.flush()
    return records


async def lot_events(
    session: AsyncSession, lot_id: int, *, after_lot_seq: int = 0
) -> Sequence[EventRecord]:
    query = (
        select(EventRecord)
        .where(EventRecord.lot_id == lot_id, EventRecord.lot_seq > after_lot_seq)
        .order_by(EventRecord.lot_seq)
    )
    return (await session.execute(query)).scalars().all()


def event_data(record: EventRecord) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(record.payload)
    return data


@dataclass(frozen=True, slots=True)
class EventFilter:
    """An auditor's search: every given criterion must hold; times are exclusive bounds."""

    lot_id: int | None = None
    bidder: str | None = None
    """A bidder number of the lot ``lot_id`` (numbers are per lot)."""
    actor: str | None = None
    """``user:<id>``, ``system`` or a username."""
    types: tuple[str, ...] = ()
    after: datetime | None = None
    before: datetime | None = None


async def search_events(
    session: AsyncSession, search: EventFilter, *, cursor: int = 0, limit: int = 100
) -> Sequence[EventRecord]:
    """Events matching ``search`` with seq > ``cursor``, oldest first, at most ``limit``."""
    query = select(EventRecord).where(EventRecord.seq > cursor)
    if search.lot_id is not None:
        query = query.where(EventRecord.lot_id == search.lot_id)
    if search.types:
        query = query.where(EventRecord.type.in_(search.types))
    if search.after is not None:
        query = query.where(EventRecord.at > search.after)
    if search.before is not None:
        query = query.where(EventRecord.at < search.before)
    if search.actor:
        query = query.where(EventRecord.actor == await _actor(session, search.actor))
    if search.bidder:
        query = query.where(or_(*await _naming_bidder(session, search.lot_id, search.bidder)))
    query = query.order_by(EventRecord.seq).limit(limit)
    return (await session.execute(query)).scalars().all()


async def _actor(session: AsyncSession, actor: str) -> str:
    if actor == "system" or actor.startswith("user:"):
        return actor
    user_id = (
        await session.execute(select(User.id).where(User.username == actor))
    ).scalar_one_or_none()
    return f"user:{user_id}" if user_id is not None else "user:unknown"


async def _naming_bidder(
    session: AsyncSession, lot_id: int | None, number: str
) -> list[ColumnElement[bool]]:
    """Events naming the bidder number in their data, their registration, or done by them.

    The payload is canonical JSON, so ``"bidder":"A07"`` appears in it exactly like that.
    """
    conditions = [
        EventRecord.payload.contains(f'"{key}":{json.dumps(number)}', autoescape=True)
        for key in ("bidder", "holder", "winner")
    ]
    registration = (
        await session.execute(
            select(Registration).where(
                Registration.lot_id == lot_id, Registration.bidder_number == number
            )
        )
    ).scalar_one_or_none()
    if registration is not None:
        conditions.append(EventRecord.actor == f"user:{registration.user_id}")
        for end in (",", "}"):
            marker = f'"registration_id":{registration.id}{end}'
            conditions.append(EventRecord.payload.contains(marker, autoescape=True))
    return conditions
