"""Appending to the event log, and reading a lot's events back."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app import auction
from app.audit import chain
from app.audit.models import EventRecord, LogHead


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
    head = (await session.execute(select(LogHead).with_for_update())).scalar_one()
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
