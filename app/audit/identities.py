"""Who is behind the actors and bidder numbers of events: for auditors and the lot's officials."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.audit import encoding
from app.lots.models import Registration

USER_ACTOR = "user:"


def user_id_of(actor: str) -> int | None:
    """The user id of an ``user:<id>`` actor, None for ``system``."""
    if actor.startswith(USER_ACTOR) and actor[len(USER_ACTOR) :].isdigit():
        return int(actor[len(USER_ACTOR) :])
    return None


def label(user: User | None) -> str:
    if user is None:
        return ""
    return f"{user.display_name} ({user.username})" if user.display_name else user.username


@dataclass
class Identities:
    """The users and registrations that events of some lots name, loaded in two queries."""

    users: dict[int, User] = field(default_factory=dict)
    by_number: dict[tuple[int, str], Registration] = field(default_factory=dict)
    by_registration: dict[int, Registration] = field(default_factory=dict)

    def actor_name(self, actor: str) -> str:
        user_id = user_id_of(actor)
        return "system" if user_id is None else label(self.users.get(user_id))

    def registration_named(self, lot_id: int | None, data: Any) -> Registration | None:
        """The registration an event is about: by its bidder number, else its registration id."""
        if lot_id is None:
            return None
        number, _ = encoding.summary_of(data)
        if number:
            return self.by_number.get((lot_id, number))
        registration_id = data.get("registration_id") if isinstance(data, dict) else None
        return (
            self.by_registration.get(registration_id) if isinstance(registration_id, int) else None
        )

    def bidder_name(self, lot_id: int | None, data: Any) -> str:
        registration = self.registration_named(lot_id, data)
        return "" if registration is None else label(self.users.get(registration.user_id))

    def person(self, registration: Registration) -> dict[str, Any]:
        """A bidder's registration with the identity behind the number."""
        user = self.users.get(registration.user_id)
        return {
            "registration_id": registration.id,
            "bidder_number": registration.bidder_number,
            "status": registration.status,
            "user_id": registration.user_id,
            "username": user.username if user else None,
            "display_name": user.display_name if user else None,
            "phone": user.phone if user else None,
            "priority": registration.priority,
            "deposit_fen": registration.deposit_fen,
        }


async def load_identities(
    session: AsyncSession, lot_ids: Iterable[int | None], actors: Iterable[str]
) -> Identities:
    """The registrations of ``lot_ids`` and every user they or ``actors`` name."""
    identities = Identities()
    wanted_lots = {lot_id for lot_id in lot_ids if lot_id is not None}
    if wanted_lots:
        registrations = await session.execute(
            select(Registration)
            .where(Registration.lot_id.in_(wanted_lots))
            .order_by(Registration.id)
        )
        for registration in registrations.scalars():
            identities.by_registration[registration.id] = registration
            if registration.bidder_number:
                identities.by_number[(registration.lot_id, registration.bidder_number)] = (
                    registration
                )
    user_ids = {user_id_of(actor) for actor in actors} - {None}
    user_ids |= {r.user_id for r in identities.by_registration.values()}
    if user_ids:
        users = await session.execute(select(User).where(User.id.in_(user_ids)))
        identities.users = {user.id: user for user in users.scalars()}
    return identities
