"""The auditors' desk: every lot, its history and downloads, the checkpoint, verify at a click."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from app.accounts.models import Role
from app.deps import SessionDep
from app.lots import service as lots_service
from app.lots.models import LOT_STATUSES
from app.web.errors import PageRoute
from app.web.session import PageViewer, require
from app.web.templating import render
from app.web.verification import verify_lot

router = APIRouter(prefix="/audit", route_class=PageRoute, include_in_schema=False)


@router.get("", response_class=HTMLResponse)
async def desk_page(
    request: Request,
    viewer: PageViewer,
    session: SessionDep,
    status: str = "",
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> Response:
    """All lots with their downloads and a verify button; the log's key and checkpoint."""
    auditor = require(viewer, Role.AUDITOR)
    rows, total = await lots_service.list_lots(
        session,
        auditor,
        status=status if status in LOT_STATUSES else None,
        page=page,
    )
    context = {
        "rows": rows,
        "page": page,
        "pages": max(1, -(-total // lots_service.PAGE_SIZE)),
        "status": status,
        "statuses": LOT_STATUSES,
    }
    return render(request, viewer, "audit/index.html", context)


@router.get("/lots/{lot_id}", response_class=HTMLResponse)
async def history_page(
    request: Request, lot_id: int, viewer: PageViewer, session: SessionDep
) -> Response:
    """One lot's whole history with identities and hashes (read from the audit API)."""
    auditor = require(viewer, Role.AUDITOR)
    lot = await lots_service.get_visible_lot(session, auditor, lot_id)
    village = await lots_service.village_name(session, lot.village_id)
    context = {"lot": lots_service.snapshot(lot, village, session)}
    return render(request, viewer, "audit/lot.html", context)


@router.get("/lots/{lot_id}/verify")
async def verify_page(
    request: Request, lot_id: int, viewer: PageViewer, session: SessionDep
) -> Response:
    """The verifier's verdict on the lot's history CSV, as JSON for the desk's button."""
    user = require(viewer, Role.AUDITOR, Role.OFFICIAL)
    verdict = await verify_lot(session, request.app.state.runtime, user, lot_id)
    return JSONResponse(verdict.as_json(), headers={"Cache-Control": "no-store"})
