"""Use cases of lots: create and edit drafts, publish, open, pause, close, cancel; read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import auction
from app.accounts.models import Role, User, Village
from app.db import WRITE_LOCK, utcnow
from app.errors import AppError, Forbidden, NotFound
from app.lots import ledger
from app.lots.models import Lot
from app.lots.schemas import LotFields, LotPatch
from app.runtime import runtime_of

DETAIL_FIELDS = ("title", "asset_kind", "description", "location", "area_m2", "lease_term_months")
PAGE_SIZE = 20


def actor_of(user: User | None) -> str:
    return "system" if user is None else f"user:{user.id}"


def may_see_identities(user: User | None, lot: Lot) -> bool:
    """Only the lot's own officials and auditors ever see who the bidders are."""
    if user is None:
        return False
    if user.role == Role.AUDITOR:
        return True
    return user.role == Role.OFFICIAL and user.village_id == lot.village_id


def may_see_draft(user: User | None, lot: Lot) -> bool:
    return may_see_identities(user, lot) or (user is not None and user.role == Role.ADMIN)


def _details(lot: Lot) -> dict[str, Any]:
    details = {name: getattr(lot, name) for name in DETAIL_FIELDS}
    details["starts_at"] = auction.format_time(lot.starts_at) if lot.starts_at else None
    return details


async def create_lot(session: AsyncSession, official: User, fields: LotFields) -> Lot:
    await session.connection(execution_options=WRITE_LOCK)
    if official.village_id is None:
        raise Forbidden("Only an official of a village creates lots.")
    now = utcnow()
    events = auction.decide(None, auction.CreateLot(fields.format, fields.rules), now)
    lot = Lot(
        village_id=official.village_id,
        created_by=official.id,
        rules=dict(fields.rules),
        **fields.model_dump(exclude={"rules"}),
    )
    session.add(lot)
    await session.flush()
    details = auction.Event("lot_details_updated", now, _details(lot))
    await ledger.record(session, lot, None, [*events, details], actor=actor_of(official))
    return lot


async def lock_official_lot(session: AsyncSession, official: User, lot_id: int) -> Lot:
    """Lock the lot for a change by ``official``, who must act for the lot's village."""
    lot = await ledger.lock_lot(session, lot_id)
    if official.role != Role.OFFICIAL or official.village_id != lot.village_id:
        raise Forbidden("Only the officials of the lot's village may do this.")
    return lot


async def update_lot(session: AsyncSession, official: User, lot_id: int, patch: LotPatch) -> Lot:
    lot = await lock_official_lot(session, official, lot_id)
    if lot.status != "draft":
        raise AppError(409, "lot_not_draft", "Only a draft lot can be edited.")
    changes = patch.model_dump(exclude_unset=True)
    state = await ledger.load_state(session, lot)
    now = utcnow()
    events: list[auction.Event] = []
    if "format" in changes or "rules" in changes:
        new_format = changes.get("format") or lot.format
        new_rules = changes.get("rules", lot.rules) or {}
        events += auction.decide(state, auction.UpdateRules(new_format, new_rules), now)
        lot.format, lot.rules = new_format, dict(new_rules)
    for name in (*DETAIL_FIELDS, "starts_at"):
        if name in changes and changes[name] is not None:
            setattr(lot, name, changes[name])
    events.append(auction.Event("lot_details_updated", now, _details(lot)))
    await ledger.record(session, lot, state, events, actor=actor_of(official))
    return lot


def _lifecycle_command(action: str, reason: str) -> auction.Command:
    commands: dict[str, auction.Command] = {
        "publish": auction.Publish(),
        "open": auction.OpenLot(),
        "pause": auction.Pause(reason),
        "resume": auction.Resume(),
        "close": auction.CloseEarly(reason),
        "cancel": auction.Cancel(reason),
    }
    return commands[action]


NEEDS_REASON = frozenset({"pause", "close", "cancel"})


async def change_lifecycle(
    session: AsyncSession, official: User, lot_id: int, action: str, reason: str = ""
) -> Lot:
    """Publish, open, pause, resume, close early or cancel a lot of the official's village."""
    if action in NEEDS_REASON and not reason.strip():
        raise AppError(422, "reason_required", f"Say why you {action} the lot.")
    lot = await lock_official_lot(session, official, lot_id)
    command = _lifecycle_command(action, reason.strip())
    await ledger.execute(session, lot, command, actor=actor_of(official))
    return lot


async def advance_due_lot(session: AsyncSession, lot_id: int) -> bool:
    """The scheduler's step for one lot: open it at its start time, or end what is due.

    Conditional: under the lot's lock it looks again at whether anything is due, so two
    processes (or a late scheduler after a bid) doing this for the same lot is harmless.
    """
    lot = await ledger.lock_lot(session, lot_id)
    now = utcnow()
    if lot.next_due_at is None or lot.next_due_at > now:
        return False
    lag = (now - lot.next_due_at).total_seconds()
    runtime_of(session).metrics.scheduler_lag.observe(lag)
    if lot.status == "registration":
        try:
            await ledger.execute(session, lot, auction.OpenLot(), actor="system", now=now)
        except auction.RuleViolation:
            lot.next_due_at = None  # cannot open (e.g. too few bidders): officials decide
        return True
    outcome = await ledger.execute(session, lot, auction.Tick(), actor="system", now=now)
    return bool(outcome.records)


async def get_visible_lot(session: AsyncSession, viewer: User | None, lot_id: int) -> Lot:
    lot = await session.get(Lot, lot_id)
    if lot is None or (lot.status == "draft" and not may_see_draft(viewer, lot)):
        raise NotFound("lot_not_found", f"There is no lot {lot_id}.")
    return lot


async def village_name(session: AsyncSession, village_id: int) -> str:
    village = await session.get(Village, village_id)
    return village.name if village else ""


def snapshot(lot: Lot, village: str, session: AsyncSession) -> dict[str, Any]:
    """The public snapshot of a lot (no reserve price, no identities)."""
    return {
        "id": lot.id,
        "village_id": lot.village_id,
        "village": village,
        **{name: getattr(lot, name) for name in DETAIL_FIELDS},
        "format": lot.format,
        "rules": auction.public_rules(lot.format, lot.rules),
        "starts_at": lot.starts_at,
        "status": lot.status,
        "phase": lot.phase,
        "current_price_fen": lot.current_price_fen,
        "leader": lot.leader,
        "round": lot.round,
        "turn": lot.turn,
        "deadline": lot.deadline,
        "bid_count": lot.bid_count,
        "seq": lot.seq,
        "watchers": runtime_of(session).watcher_count(lot.id),
        "result": lot.result,
        "server_time": utcnow(),
    }


_LIVE_FIRST = case(
    (Lot.status.in_(("open", "paused")), 0), (Lot.status == "registration", 1), else_=2
)


async def list_lots(
    session: AsyncSession,
    viewer: User | None,
    *,
    status: str | None = None,
    village_id: int | None = None,
    asset_kind: str | None = None,
    page: int = 1,
) -> tuple[Sequence[tuple[Lot, str]], int]:
    """Lots with what is live now first; drafts only for those who may see them."""
    query = select(Lot, Village.name).join(Village, Village.id == Lot.village_id)
    if status:
        query = query.where(Lot.status == status)
    if village_id is not None:
        query = query.where(Lot.village_id == village_id)
    if asset_kind:
        query = query.where(Lot.asset_kind == asset_kind)
    if viewer is None or viewer.role == Role.BIDDER:
        query = query.where(Lot.status != "draft")
    elif viewer.role == Role.OFFICIAL:
        query = query.where((Lot.status != "draft") | (Lot.village_id == viewer.village_id))
    total = (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    rows = await session.execute(
        query.order_by(_LIVE_FIRST, Lot.deadline.is_(None), Lot.deadline, Lot.id.desc())
        .limit(PAGE_SIZE)
        .offset((page - 1) * PAGE_SIZE)
    )
    return [(lot, name) for lot, name in rows.all()], total
