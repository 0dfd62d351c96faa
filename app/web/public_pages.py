"""Pages anyone may open: the lots, the bidding room, sign-in and registration, my lots."""

from __future__ import annotations

from typing import Annotated, Any, get_args

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from app.accounts import service as accounts_service
from app.accounts.models import Role
from app.accounts.security import read_token
from app.bidding import service as bidding_service
from app.deps import SESSION_COOKIE, SessionDep, settings_of
from app.lots import registrations as registrations_service
from app.lots import service as lots_service
from app.lots.models import LOT_STATUSES
from app.lots.schemas import AssetKind
from app.web.errors import PageRoute, error_page
from app.web.i18n import LANGUAGE_COOKIE, LANGUAGES
from app.web.session import PageViewer, require
from app.web.templating import local_path, render

router = APIRouter(route_class=PageRoute, include_in_schema=False)
ASSET_KINDS: tuple[str, ...] = get_args(AssetKind)


@router.get("/", response_class=HTMLResponse)
async def lots_page(
    request: Request,
    viewer: PageViewer,
    session: SessionDep,
    status: str = "",
    village: str = "",
    kind: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The public list of lots, live ones first, filtered by village, kind and status."""
    village_id = int(village) if village.isdigit() else None
    rows, total = await lots_service.list_lots(
        session,
        viewer.user,
        status=status if status in LOT_STATUSES else None,
        village_id=village_id,
        asset_kind=kind if kind in ASSET_KINDS else None,
        page=page,
    )
    context = {
        "rows": rows,
        "total": total,
        "page": page,
        "pages": max(1, -(-total // lots_service.PAGE_SIZE)),
        "villages": await accounts_service.list_villages(session),
        "filters": {"status": status, "village": village, "kind": kind},
        "statuses": LOT_STATUSES,
        "kinds": ASSET_KINDS,
    }
    return render(request, viewer, "lots.html", context)


@router.get("/lots/{lot_id}", response_class=HTMLResponse)
async def room_page(
    request: Request, lot_id: int, viewer: PageViewer, session: SessionDep
) -> Response:
    """The bidding room: the lot, its live standing and ladder, and the bidder's own panel."""
    lot = await lots_service.get_visible_lot(session, viewer.user, lot_id)
    village = await lots_service.village_name(session, lot.village_id)
    snapshot = lots_service.snapshot(lot, village, session)
    ladder = await bidding_service.public_ladder(session, lot)
    mine = None
    if viewer.user is not None and viewer.user.role == Role.BIDDER:
        for registration, registered_lot in await registrations_service.list_mine(
            session, viewer.user
        ):
            if registered_lot.id == lot.id:
                mine = {
                    "status": registration.status,
                    "bidder_number": registration.bidder_number,
                    "reject_reason": registration.reject_reason,
                }
    context: dict[str, Any] = {
        "lot": snapshot,
        "ladder": ladder,
        "mine": mine,
        "manages": lots_service.may_see_identities(viewer.user, lot),
    }
    return render(request, viewer, "room.html", context)


@router.get("/me", response_class=HTMLResponse)
async def my_page(request: Request, viewer: PageViewer, session: SessionDep) -> Response:
    """A bidder's registrations, with their bidder numbers and links to the rooms."""
    user = require(viewer, Role.BIDDER)
    rows = await registrations_service.list_mine(session, user)
    return render(request, viewer, "me.html", {"rows": rows})


@router.get("/signin", response_class=HTMLResponse)
async def sign_in_page(request: Request, viewer: PageViewer, next: str = "/") -> Response:
    return render(request, viewer, "signin.html", {"next": local_path(next)})


@router.get("/register", response_class=HTMLResponse)
async def register_page(request: Request, viewer: PageViewer, next: str = "/") -> Response:
    return render(request, viewer, "register.html", {"next": local_path(next)})


@router.post("/signout")
async def sign_out(request: Request, csrf_token: Annotated[str, Form()] = "") -> Response:
    """End the cookie session; the form must carry the session's CSRF secret."""
    token = request.cookies.get(SESSION_COOKIE, "")
    claims = read_token(settings_of(request).secret_key, token) if token else None
    if claims is not None and csrf_token != claims.csrf:
        return error_page(request, 403, "csrf_failed")
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(SESSION_COOKIE)
    return response


@router.get("/lang/{language}")
async def switch_language(language: str, next: str = "/") -> Response:
    """Remember the reader's language for a year and go back to where they were."""
    response = RedirectResponse(local_path(next), status_code=303)
    if language in LANGUAGES:
        response.set_cookie(LANGUAGE_COOKIE, language, max_age=365 * 86400, samesite="lax")
    return response
