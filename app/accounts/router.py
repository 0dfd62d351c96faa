"""HTTP endpoints of accounts: sign-in, self-registration of bidders, villages and users."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from app.accounts import service
from app.accounts.models import Role
from app.accounts.schemas import (
    BidderRegistration,
    Token,
    UserCreate,
    UserOut,
    VillageCreate,
    VillageOut,
)
from app.accounts.security import LoginThrottle, issue_token, read_token
from app.deps import SESSION_COOKIE, AdminUser, CurrentUser, SessionDep, SettingsDep
from app.errors import AppError
from app.ratelimit import address_key

router = APIRouter(prefix="/api", tags=["accounts"])


def _throttle(request: Request) -> LoginThrottle:
    throttle: LoginThrottle = request.app.state.login_throttle
    return throttle


@router.post("/auth/token", response_model=Token)
async def sign_in(
    request: Request,
    response: Response,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
    session: SessionDep,
    settings: SettingsDep,
) -> Token:
    """Exchange a username and password for a bearer token (also set as a session cookie)."""
    throttle = _throttle(request)
    account, address = form.username, address_key(request)
    if wait := throttle.retry_after(account, address):
        raise AppError(
            429,
            "too_many_attempts",
            f"Too many failed sign-ins; try again in {wait} s.",
            extra={"retry_after": wait},
        )
    began = throttle.begin(account, address)
    user = await service.authenticate(session, form.username, form.password)
    if user is None:
        raise AppError(401, "invalid_credentials", "The username or password is wrong.")
    throttle.succeeded(account, address, began)
    token = issue_token(settings.secret_key, user.id, settings.access_token_minutes * 60)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=settings.access_token_minutes * 60,
        httponly=True,
        samesite="lax",
        # Over https (directly, or behind a TLS proxy the app trusts) the cookie is never sent
        # in clear; over plain http a Secure cookie would not be kept at all.
        secure=request.url.scheme == "https",
    )
    return Token(access_token=token)


@router.post("/auth/logout", status_code=204)
async def sign_out(response: Response) -> None:
    response.delete_cookie(SESSION_COOKIE)


@router.get("/auth/csrf")
async def csrf_token(request: Request, _: CurrentUser, settings: SettingsDep) -> dict[str, str]:
    """The CSRF secret of the browser session, to send as ``X-CSRF-Token`` on changes."""
    claims = read_token(settings.secret_key, request.cookies.get(SESSION_COOKIE, ""))
    if claims is None:
        raise AppError(400, "no_cookie_session", "Only a cookie session has a CSRF token.")
    return {"csrf_token": claims.csrf}


@router.post("/auth/register", response_model=UserOut, status_code=201)
async def register_bidder(body: BidderRegistration, session: SessionDep) -> UserOut:
    """Anyone may sign up as a bidder; the phone number stays private."""
    user = await service.create_user(session, role=Role.BIDDER, **body.model_dump())
    return UserOut.model_validate(user)


@router.get("/me", response_model=UserOut)
async def me(user: CurrentUser) -> UserOut:
    return UserOut.model_validate(user)


@router.post("/villages", response_model=VillageOut, status_code=201)
async def create_village(body: VillageCreate, _: AdminUser, session: SessionDep) -> VillageOut:
    return VillageOut.model_validate(await service.create_village(session, **body.model_dump()))


@router.get("/villages", response_model=list[VillageOut])
async def list_villages(session: SessionDep) -> list[VillageOut]:
    return [VillageOut.model_validate(v) for v in await service.list_villages(session)]


@router.post("/users", response_model=UserOut, status_code=201)
async def create_user(body: UserCreate, _: AdminUser, session: SessionDep) -> UserOut:
    return UserOut.model_validate(await service.create_user(session, **body.model_dump()))
