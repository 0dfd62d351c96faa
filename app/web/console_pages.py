"""The officials' console: their village's lots, the lot editor, the queue, the confirmation."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app import auction
from app.accounts.models import Role, User
from app.audit import service as audit_service
from app.deps import SessionDep
from app.errors import AppError, Forbidden
from app.lots import registrations as registrations_service
from app.lots import service as lots_service
from app.lots.models import Lot
from app.web.errors import PageRoute
from app.web.lot_form import GROUPS, form_values
from app.web.public_pages import ASSET_KINDS
from app.web.session import PageViewer, require
from app.web.templating import render

router = APIRouter(prefix="/console", route_class=PageRoute, include_in_schema=False)


async def _official_lot(session: AsyncSession, official: User, lot_id: int) -> Lot:
    """The lot, if ``official`` acts for its village (a 403 page otherwise)."""
    lot = await lots_service.get_visible_lot(session, official, lot_id)
    if official.village_id != lot.village_id:
        raise Forbidden("Only the officials of the lot's village manage it.")
    return lot


@router.get("", response_class=HTMLResponse)
async def console_page(
    request: Request,
    viewer: PageViewer,
    session: SessionDep,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """The official's lots, every status, live ones first."""
    official = require(viewer, Role.OFFICIAL)
    rows, total = await lots_service.list_lots(
        session, official, village_id=official.village_id, page=page
    )
    village = await lots_service.village_name(session, official.village_id or 0)
    pages = max(1, -(-total // lots_service.PAGE_SIZE))
    context = {"rows": rows, "village": village, "page": page, "pages": pages}
    return render(request, viewer, "console/index.html", context)


@router.get("/lots/new", response_class=HTMLResponse)
async def new_lot_page(request: Request, viewer: PageViewer) -> Response:
    require(viewer, Role.OFFICIAL)
    context = {"lot": None, "values": form_values(None), "kinds": ASSET_KINDS, "groups": GROUPS}
    return render(request, viewer, "console/lot_form.html", context)


@router.get("/lots/{lot_id}/edit", response_class=HTMLResponse)
async def edit_lot_page(
    request: Request, lot_id: int, viewer: PageViewer, session: SessionDep
) -> Response:
    official = require(viewer, Role.OFFICIAL)
    lot = await _official_lot(session, official, lot_id)
    if lot.status != "draft":
        raise AppError(409, "lot_not_draft", "Only a draft lot can be edited.")
    context = {"lot": lot, "values": form_values(lot), "kinds": ASSET_KINDS, "groups": GROUPS}
    return render(request, viewer, "console/lot_form.html", context)


@router.get("/lots/{lot_id}", response_class=HTMLResponse)
async def manage_lot_page(
    request: Request, lot_id: int, viewer: PageViewer, session: SessionDep
) -> Response:
    """One lot: its standing, the lifecycle buttons and the registration queue."""
    official = require(viewer, Role.OFFICIAL)
    lot = await _official_lot(session, official, lot_id)
    village = await lots_service.village_name(session, lot.village_id)
    context = {
        "lot": lots_service.snapshot(lot, village, session),
        "full_rules": auction.rules_to_dict(auction.parse_rules(lot.format, lot.rules)),
        "registrations": await registrations_service.list_for_lot(session, official, lot_id),
    }
    return render(request, viewer, "console/lot.html", context)


@router.get("/lots/{lot_id}/result", response_class=HTMLResponse)
async def result_page(
    request: Request, lot_id: int, viewer: PageViewer, session: SessionDep
) -> Response:
    """The transaction confirmation (成交确认书), laid out to print on A4."""
    user = require(viewer, Role.OFFICIAL, Role.AUDITOR)
    lot = await lots_service.get_visible_lot(session, user, lot_id)
    if not lots_service.may_see_identities(user, lot):
        raise Forbidden("Only the lot's officials and auditors see its confirmation.")
    if lot.status != "closed" or not lot.result:
        raise AppError(409, "lot_not_closed", "The lot has no result yet.")
    village = await lots_service.village_name(session, lot.village_id)
    registrations = await registrations_service.list_for_lot(session, user, lot_id)
    last = await audit_service.lot_events(session, lot_id, after_lot_seq=max(lot.seq - 1, 0))
    context: dict[str, Any] = {
        "lot": lots_service.snapshot(lot, village, session),
        "result": lot.result,
        "winner": _winner(registrations, lot.result.get("winner")),
        "closing": last[-1] if last else None,
        "bidders": sum(1 for r, _ in registrations if r.status == "approved"),
        "format_time": auction.format_time,
    }
    return render(request, viewer, "console/result.html", context)


def _winner(registrations: Any, number: str | None) -> User | None:
    for registration, user in registrations:
        if number is not None and registration.bidder_number == number:
            winner: User = user
            return winner
    return None
