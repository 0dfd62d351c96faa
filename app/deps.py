"""Dependencies shared by the routers, as ``Annotated`` aliases: sessions and who is asking."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Path, Request
from fastapi.security import OAuth2PasswordBearer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import Role, User
from app.accounts.security import read_token
from app.config import Settings
from app.db import unit_of_work
from app.errors import AppError, Forbidden, Unauthorized
from app.runtime import Runtime

SESSION_COOKIE = "auction_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

_bearer = OAuth2PasswordBearer(tokenUrl="/api/auth/token", auto_error=False)


def settings_of(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def sessionmaker_of(request: Request) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


# Dependencies are coroutines even when they wait for nothing: FastAPI runs a plain function in
# its thread pool, a thread hop on every request.
async def _settings(request: Request) -> Settings:
    return settings_of(request)


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async for session in unit_of_work(sessionmaker_of(request)):
        yield session


MAX_ID = 2**31 - 1
"""Row ids are 32-bit in PostgreSQL: a larger one is refused as invalid, never sent there."""
LotId = Annotated[int, Path(ge=1, le=MAX_ID, description="The lot's id.")]
RegistrationId = Annotated[int, Path(ge=1, le=MAX_ID, description="The registration's id.")]

SettingsDep = Annotated[Settings, Depends(_settings)]
# scope="function": the commit happens before the response is sent, never after it.
SessionDep = Annotated[AsyncSession, Depends(_session, scope="function")]


async def active_user(
    runtime: Runtime, maker: async_sessionmaker[AsyncSession], user_id: int
) -> User | None:
    """The active user ``user_id``, from the runtime's short-lived cache or the database.

    Read in a short session of its own, so a request's unit of work stays untouched until it
    writes.
    """
    user = runtime.users.get(user_id)
    if user is None:
        async with maker() as session:
            user = await session.get(User, user_id)
        if user is None:
            return None
        runtime.users.put(user)
    return user if user.is_active else None


async def _signed_in(request: Request, token: str | None) -> User | None:
    """Who sent the request: by bearer token or session cookie; None if neither was sent."""
    settings = settings_of(request)
    from_cookie = token is None
    token = token or request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    claims = read_token(settings.secret_key, token)
    if claims is None:
        raise Unauthorized(
            "Your session has expired or is invalid; sign in again.", "invalid_token"
        )
    if from_cookie and request.method not in SAFE_METHODS:
        # A cookie rides along on cross-site requests; the CSRF secret cannot.
        sent = request.headers.get(CSRF_HEADER)
        if sent is None and request.headers.get("content-type", "").startswith(
            ("application/x-www-form-urlencoded", "multipart/form-data")
        ):
            sent = str((await request.form()).get("csrf_token", ""))
        if sent != claims.csrf:
            raise AppError(403, "csrf_failed", "The form has expired; reload the page and retry.")
    user = await active_user(request.app.state.runtime, sessionmaker_of(request), claims.user_id)
    if user is None:
        raise Unauthorized("This account no longer exists or is disabled.", "invalid_token")
    request.state.user = user
    return user


# The dependencies below call plain functions rather than depending on one another: each
# level of dependencies costs FastAPI a resolution on every request.
Token = Annotated[str | None, Depends(_bearer)]


async def _optional_user(request: Request, token: Token) -> User | None:
    return await _signed_in(request, token)


async def _current_user(request: Request, token: Token) -> User:
    user = await _signed_in(request, token)
    if user is None:
        raise Unauthorized()
    return user


async def user_in_role(request: Request, token: str | None, *roles: Role) -> User:
    """The signed-in user, who must have one of ``roles`` (401 / 403 otherwise)."""
    user = await _current_user(request, token)
    if user.role not in roles:
        raise Forbidden(f"This needs the role {' or '.join(roles)}.")
    return user


def _role(*roles: Role):  # type: ignore[no-untyped-def]
    async def check(request: Request, token: Token) -> User:
        return await user_in_role(request, token, *roles)

    return check


OptionalUser = Annotated[User | None, Depends(_optional_user)]
CurrentUser = Annotated[User, Depends(_current_user)]
AdminUser = Annotated[User, Depends(_role(Role.ADMIN))]
OfficialUser = Annotated[User, Depends(_role(Role.OFFICIAL))]
BidderUser = Annotated[User, Depends(_role(Role.BIDDER))]
AuditorUser = Annotated[User, Depends(_role(Role.AUDITOR))]
AuditorOrOfficialUser = Annotated[User, Depends(_role(Role.AUDITOR, Role.OFFICIAL))]
