"""Who is looking at a page: the cookie session, read leniently (an expired one is no one)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request

from app.accounts.models import Role, User
from app.accounts.security import read_token
from app.deps import SESSION_COOKIE, SessionDep, active_user, sessionmaker_of, settings_of


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in user of a page (or ``None``) and the CSRF secret of their session."""

    user: User | None
    csrf: str = ""

    @property
    def role(self) -> str | None:
        return self.user.role if self.user else None


class SignInRequired(Exception):  # noqa: N818 - a redirect, not an error
    """The page needs a signed-in user: send the browser to the sign-in page."""


class WrongRole(Exception):  # noqa: N818 - shown as the 403 page
    """The signed-in user may not see this page."""


async def _viewer(request: Request, session: SessionDep) -> Viewer:
    viewer = await _read_viewer(request, session)
    request.state.page_viewer = viewer  # so that an error page still shows who is signed in
    return viewer


async def _read_viewer(request: Request, session: SessionDep) -> Viewer:
    token = request.cookies.get(SESSION_COOKIE)
    claims = read_token(settings_of(request).secret_key, token) if token else None
    if claims is None:
        return Viewer(None)
    user = await active_user(request.app.state.runtime, sessionmaker_of(request), claims.user_id)
    if user is None:
        return Viewer(None)
    return Viewer(user, claims.csrf)


PageViewer = Annotated[Viewer, Depends(_viewer)]


def require(viewer: Viewer, *roles: Role) -> User:
    """The viewer's user if they have one of ``roles``; otherwise sign in, or a 403 page."""
    if viewer.user is None:
        raise SignInRequired
    if viewer.user.role not in roles:
        raise WrongRole
    return viewer.user
