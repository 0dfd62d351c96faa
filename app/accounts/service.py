"""Use cases of accounts: villages, users, sign-in."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import Role, User, Village
from app.accounts.security import hash_password, verify_password
from app.errors import AppError, Conflict


async def create_village(session: AsyncSession, *, name: str, township: str) -> Village:
    village = Village(name=name, township=township)
    session.add(village)
    await session.flush()
    return village


async def list_villages(session: AsyncSession) -> Sequence[Village]:
    return (await session.execute(select(Village).order_by(Village.id))).scalars().all()


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    role: Role | str,
    village_id: int | None = None,
    display_name: str = "",
    phone: str = "",
) -> User:
    role = Role(role)
    if role is Role.OFFICIAL and village_id is None:
        raise AppError(422, "village_required", "An official acts for a village: give village_id.")
    if role is not Role.OFFICIAL and village_id is not None:
        raise AppError(422, "village_not_allowed", "Only officials belong to a village.")
    if village_id is not None and await session.get(Village, village_id) is None:
        raise AppError(422, "unknown_village", f"There is no village {village_id}.")
    # argon2 takes tens of milliseconds of CPU: in a thread, the bids of the others go on.
    password_hash = await asyncio.to_thread(hash_password, password)
    user = User(
        username=username,
        password_hash=password_hash,
        role=role.value,
        village_id=village_id,
        display_name=display_name,
        phone=phone,
    )
    session.add(user)
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise Conflict("username_taken", f"The username {username!r} is taken.") from None
    return user


async def authenticate(session: AsyncSession, username: str, password: str) -> User | None:
    user = (
        await session.execute(select(User).where(User.username == username))
    ).scalar_one_or_none()
    valid = await asyncio.to_thread(verify_password, user.password_hash if user else None, password)
    return user if valid and user is not None and user.is_active else None
