"""Use cases of registrations: a bidder applies, an official approves (with deposit) or rejects."""

from __future__ import annotations

import secrets
import string
from collections.abc import Sequence

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncSession

from app import auction
from app.accounts.models import User
from app.db import utcnow
from app.errors import Conflict, Forbidden, NotFound
from app.lots import ledger
from app.lots.models import Lot, Registration
from app.lots.service import actor_of, lock_official_lot, may_see_identities
from app.runtime import runtime_of


async def submit(
    session: AsyncSession, bidder: User, lot_id: int, initial_bid_fen: int | None
) -> Registration:
    lot = await ledger.lock_lot(session, lot_id)
    if lot.status != "registration":
        raise Conflict("registration_closed", "This lot is not taking registrations.")
    existing = await session.execute(
        select(Registration.id).where(
            Registration.lot_id == lot.id, Registration.user_id == bidder.id
        )
    )
    if existing.first() is not None:
        raise Conflict("already_registered", "You have already registered for this lot.")
    state = await ledger.load_state(session, lot)
    # A dry run of the qualification checks the sealed initial bid now, not at approval.
    dry_run = auction.QualifyBidder("?", initial_bid_fen=initial_bid_fen)
    auction.decide(state, dry_run, utcnow())
    registration = Registration(lot_id=lot.id, user_id=bidder.id, initial_bid_fen=initial_bid_fen)
    session.add(registration)
    await session.flush()
    event = auction.Event("registration_submitted", utcnow(), {"registration_id": registration.id})
    await ledger.record(session, lot, state, [event], actor=actor_of(bidder))
    return registration


async def _pending(session: AsyncSession, lot: Lot, registration_id: int) -> Registration:
    registration = await session.get(Registration, registration_id)
    if registration is None or registration.lot_id != lot.id:
        raise NotFound("registration_not_found", f"There is no registration {registration_id}.")
    if registration.status != "pending":
        raise Conflict("registration_not_pending", f"It is already {registration.status}.")
    return registration


async def _new_bidder_number(session: AsyncSession, lot_id: int) -> str:
    """A random number like ``K47``: stable for the lot, saying nothing about who holds it."""
    taken = set(
        (
            await session.execute(
                select(Registration.bidder_number).where(Registration.lot_id == lot_id)
            )
        ).scalars()
    )
    while True:
        number = secrets.choice(string.ascii_uppercase) + f"{secrets.randbelow(99) + 1:02d}"
        if number not in taken:
            return number


async def approve(
    session: AsyncSession,
    official: User,
    lot_id: int,
    registration_id: int,
    *,
    deposit_fen: int,
    note: str,
    priority: bool,
) -> Registration:
    lot = await lock_official_lot(session, official, lot_id)
    registration = await _pending(session, lot, registration_id)
    number = await _new_bidder_number(session, lot.id)
    command = auction.QualifyBidder(number, priority, registration.initial_bid_fen)
    await ledger.execute(session, lot, command, actor=actor_of(official))
    registration.status = "approved"
    registration.bidder_number = number
    registration.priority = priority
    registration.deposit_fen = deposit_fen
    registration.note = note
    registration.decided_by = official.id
    registration.decided_at = utcnow()
    return registration


async def reject(
    session: AsyncSession, official: User, lot_id: int, registration_id: int, reason: str
) -> Registration:
    lot = await lock_official_lot(session, official, lot_id)
    registration = await _pending(session, lot, registration_id)
    registration.status = "rejected"
    registration.reject_reason = reason
    registration.decided_by = official.id
    registration.decided_at = utcnow()
    state = await ledger.load_state(session, lot)
    data = {"registration_id": registration.id, "reason": reason}
    event = auction.Event("registration_rejected", utcnow(), data)
    await ledger.record(session, lot, state, [event], actor=actor_of(official))
    return registration


async def list_for_lot(
    session: AsyncSession, viewer: User, lot_id: int
) -> Sequence[tuple[Registration, User]]:
    lot = await session.get(Lot, lot_id)
    if lot is None:
        raise NotFound("lot_not_found", f"There is no lot {lot_id}.")
    if not may_see_identities(viewer, lot):
        raise Forbidden("Only the lot's officials and auditors see its registrations.")
    rows = await session.execute(
        select(Registration, User)
        .join(User, User.id == Registration.user_id)
        .where(Registration.lot_id == lot_id)
        .order_by(Registration.id)
    )
    return [(registration, user) for registration, user in rows.all()]


async def list_mine(session: AsyncSession, bidder: User) -> Sequence[tuple[Registration, Lot]]:
    rows = await session.execute(
        select(Registration, Lot)
        .join(Lot, Lot.id == Registration.lot_id)
        .where(Registration.user_id == bidder.id)
        .order_by(Registration.id.desc())
    )
    return [(registration, lot) for registration, lot in rows.all()]


_APPROVED_NUMBER = select(Registration.bidder_number).where(
    Registration.lot_id == bindparam("lot_id"),
    Registration.user_id == bindparam("user_id"),
    Registration.status == "approved",
)


async def approved_number(session: AsyncSession, bidder: User, lot_id: int) -> str | None:
    """The bidder's number on the lot if they are approved for it.

    An approval is final and its number stable, so the runtime remembers it once found.
    """
    numbers = runtime_of(session).bidder_numbers
    number = numbers.get((lot_id, bidder.id))
    if number is None:
        params = {"lot_id": lot_id, "user_id": bidder.id}
        number = (await session.execute(_APPROVED_NUMBER, params)).scalar_one_or_none()
        if number is not None:
            numbers.put((lot_id, bidder.id), number)
    return number
