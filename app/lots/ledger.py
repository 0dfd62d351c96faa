"""Running auction commands against a lot: lock it, load its state, decide, append, project.

Every change of a lot goes through ``execute`` (a command the rules decide on) or ``record``
(events already decided, such as a registration), so the event log and the ``lots`` read model
always change together, in one transaction.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import auction
from app.audit import service as audit_service
from app.audit.models import EventRecord
from app.db import WRITE_LOCK, after_commit, hold_until_end, utcnow
from app.errors import NotFound
from app.lots.models import Lot
from app.runtime import runtime_of


@dataclass(frozen=True, slots=True)
class Outcome:
    lot: Lot
    state: auction.LotState
    records: list[EventRecord]


# Built once: composing a statement costs more CPU than SQLite takes to run it.
# On the table, not the entity: a Core statement skips the ORM's per-statement work.
_LOTS = Lot.__table__.c
_LOCK_SEQ = select(_LOTS.seq).where(_LOTS.id == bindparam("lot_id")).with_for_update()
_LOT = select(Lot).where(Lot.id == bindparam("lot_id"))


async def lock(session: AsyncSession, lot_id: int) -> int:
    """Lock the lot for a writer and return its sequence number; must be the unit of work's
    first statement.

    Every decision about a lot reads its state and appends the next events; two writers doing
    that at once would both build on the same sequence number. The in-process lock queues this
    process's writers in memory rather than in the database; the database lock (``FOR UPDATE``
    on PostgreSQL, ``BEGIN IMMEDIATE`` on SQLite) is what makes it hold across processes. Both
    are held until the commit and its publishing are done. Only the sequence number is read:
    with the state kept in memory, a refused bid needs nothing more.
    """
    writer_lock = runtime_of(session).writer_lock(lot_id)
    await writer_lock.acquire()
    hold_until_end(session, writer_lock.release)
    await session.connection(execution_options=WRITE_LOCK)
    seq: int | None = (await session.execute(_LOCK_SEQ, {"lot_id": lot_id})).scalar_one_or_none()
    if seq is None:
        raise NotFound("lot_not_found", f"There is no lot {lot_id}.")
    return seq


async def locked_lot(session: AsyncSession, lot_id: int) -> Lot:
    """The row of a lot this unit of work has locked (see ``lock``)."""
    return (await session.execute(_LOT, {"lot_id": lot_id})).scalar_one()


async def lock_lot(session: AsyncSession, lot_id: int) -> Lot:
    """``lock`` the lot and read its row."""
    await lock(session, lot_id)
    return await locked_lot(session, lot_id)


def to_event(record: EventRecord) -> auction.Event:
    return auction.Event(type=record.type, at=record.at, data=json.loads(record.payload))


async def load_state(session: AsyncSession, lot: Lot) -> auction.LotState:
    """The lot's state at ``lot.seq``."""
    return await state_at(session, lot.id, lot.seq)


async def state_at(session: AsyncSession, lot_id: int, seq: int) -> auction.LotState:
    """The lot's state at ``seq``: the cached one if still current, else replayed."""
    cached = runtime_of(session).states.get(lot_id)
    if cached is not None and cached[0] == seq:
        return cached[1]
    start, state_or_none = (0, None)
    if cached is not None and cached[0] < seq:
        start, state_or_none = cached
    for record in await audit_service.lot_events(session, lot_id, after_lot_seq=start):
        state_or_none = auction.apply(state_or_none, to_event(record))
    if state_or_none is None:
        raise RuntimeError(f"lot {lot_id} has no events")
    return state_or_none


async def execute(
    session: AsyncSession,
    lot: Lot,
    command: auction.Command,
    *,
    actor: str,
    now: datetime | None = None,
) -> Outcome:
    """Decide ``command`` on the locked ``lot`` and record the events; RuleViolation if refused."""
    state = await load_state(session, lot)
    return await record(session, lot, state, decide(state, command, now), actor=actor)


def decide(
    state: auction.LotState, command: auction.Command, now: datetime | None = None
) -> list[auction.Event]:
    """The rules' decision at ``now``, by default the server's clock; RuleViolation if refused."""
    return auction.decide(state, command, now or utcnow())


async def record(
    session: AsyncSession,
    lot: Lot,
    state: auction.LotState | None,
    events: Sequence[auction.Event],
    *,
    actor: str,
) -> Outcome:
    """Append ``events`` (already decided) to the log and fold them into the read model."""
    runtime = runtime_of(session)
    for event in events:
        state = auction.apply(state, event)
    if state is None:
        raise ValueError("a lot's first record must create it")
    if not events:
        return Outcome(lot, state, [])
    records = await audit_service.append_events(
        session,
        lot_id=lot.id,
        last_lot_seq=lot.seq,
        lot_head_hash=lot.head_hash,
        events=events,
        actor=actor,
    )
    lot.head_hash = records[-1].hash
    for event in events:
        runtime.metrics.events.labels(event.type).inc()
    project(lot, state, records[-1].lot_seq or lot.seq)
    await session.flush()
    seq, final_state, due = lot.seq, state, lot.next_due_at

    async def publish() -> None:
        runtime.states.put(lot.id, (seq, final_state))
        runtime.due_at(due)
        await runtime.publish(lot.id, records)

    after_commit(session, publish)
    return Outcome(lot, state, records)


def project(lot: Lot, state: auction.LotState, seq: int) -> None:
    """Copy what watchers and lists need from the state onto the ``lots`` row."""
    lot.seq = seq
    lot.status = state.status
    lot.phase = state.phase
    lot.current_price_fen = state.current_price_fen
    lot.leader = state.leader
    lot.round = state.round
    lot.turn = state.turn
    lot.deadline = state.deadline
    lot.bid_count = state.bid_count
    lot.result = state.result
    due = auction.next_deadline(state)
    if due is None and state.status == "registration":
        due = lot.starts_at
    lot.next_due_at = due
