"""HTTP endpoints of lots and their registrations."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query

from app.deps import (
    MAX_ID,
    AuditorOrOfficialUser,
    BidderUser,
    LotId,
    OfficialUser,
    OptionalUser,
    RegistrationId,
    SessionDep,
)
from app.lots import registrations as registrations_service
from app.lots import service
from app.lots.schemas import (
    Approval,
    LotDetail,
    LotFields,
    LotPage,
    LotPatch,
    LotSnapshot,
    LotSummary,
    MyRegistration,
    Reason,
    RegistrationCreate,
    RegistrationOut,
    Rejection,
)

router = APIRouter(prefix="/api", tags=["lots"])
LotStatus = Literal["draft", "registration", "open", "paused", "closed", "cancelled"]


async def _snapshot(session: SessionDep, lot_id: int, viewer: Any = None) -> dict[str, Any]:
    lot = await service.get_visible_lot(session, viewer, lot_id)
    snapshot = service.snapshot(lot, await service.village_name(session, lot.village_id), session)
    if service.may_see_identities(viewer, lot):
        snapshot["full_rules"] = lot.rules
    return snapshot


@router.post("/lots", response_model=LotDetail, status_code=201)
async def create_lot(body: LotFields, official: OfficialUser, session: SessionDep) -> Any:
    """Create a draft lot in the official's village."""
    lot = await service.create_lot(session, official, body)
    return await _snapshot(session, lot.id, official)


@router.patch("/lots/{lot_id}", response_model=LotDetail)
async def update_lot(
    lot_id: LotId, body: LotPatch, official: OfficialUser, session: SessionDep
) -> Any:
    """Edit a draft lot."""
    await service.update_lot(session, official, lot_id, body)
    return await _snapshot(session, lot_id, official)


@router.get("/lots", response_model=LotPage)
async def list_lots(
    session: SessionDep,
    viewer: OptionalUser,
    status: LotStatus | None = None,
    village_id: Annotated[int | None, Query(ge=1, le=MAX_ID)] = None,
    asset_kind: str | None = None,
    page: Annotated[int, Query(ge=1, le=10_000)] = 1,
) -> LotPage:
    """Lots, live ones first; filter by status, village and kind of asset."""
    rows, total = await service.list_lots(
        session, viewer, status=status, village_id=village_id, asset_kind=asset_kind, page=page
    )
    items = [
        LotSummary(
            id=lot.id,
            village_id=lot.village_id,
            village=village,
            title=lot.title,
            asset_kind=lot.asset_kind,
            format=lot.format,
            status=lot.status,
            current_price_fen=lot.current_price_fen,
            deadline=lot.deadline,
            starts_at=lot.starts_at,
            lease_term_months=lot.lease_term_months,
        )
        for lot, village in rows
    ]
    return LotPage(items=items, page=page, page_size=service.PAGE_SIZE, total=total)


@router.get("/lots/{lot_id}", response_model=LotSnapshot)
async def get_lot(lot_id: LotId, session: SessionDep, viewer: OptionalUser) -> Any:
    """The lot now: status, price, round, deadline and ``server_time`` to correct countdowns."""
    return await _snapshot(session, lot_id, viewer)


def _lifecycle(action: str, summary: str) -> None:
    async def endpoint(
        lot_id: LotId, official: OfficialUser, session: SessionDep, body: Reason | None = None
    ) -> Any:
        reason = body.reason if body else ""
        await service.change_lifecycle(session, official, lot_id, action, reason)
        return await _snapshot(session, lot_id, official)

    endpoint.__name__ = f"{action}_lot"
    router.add_api_route(
        f"/lots/{{lot_id}}/{action}",
        endpoint,
        methods=["POST"],
        response_model=LotDetail,
        summary=summary,
    )


for _action, _summary in (
    ("publish", "Open registration"),
    ("open", "Start bidding"),
    ("pause", "Pause bidding (中止), with a reason"),
    ("resume", "Resume bidding; deadlines move by the paused time"),
    ("close", "Close early on the current standing, with a reason"),
    ("cancel", "Cancel the lot (终止), with a reason"),
):
    _lifecycle(_action, _summary)


@router.post("/lots/{lot_id}/registrations", status_code=201)
async def register(
    lot_id: LotId, body: RegistrationCreate, bidder: BidderUser, session: SessionDep
) -> dict[str, Any]:
    """Apply to bid; an official records the deposit and approves or rejects."""
    registration = await registrations_service.submit(session, bidder, lot_id, body.initial_bid_fen)
    return {"id": registration.id, "status": registration.status}


@router.get("/lots/{lot_id}/registrations", response_model=list[RegistrationOut])
async def list_registrations(
    lot_id: LotId, viewer: AuditorOrOfficialUser, session: SessionDep
) -> list[RegistrationOut]:
    """Registrations with identities: for the lot's officials and auditors only."""
    rows = await registrations_service.list_for_lot(session, viewer, lot_id)
    return [
        RegistrationOut(
            id=r.id,
            lot_id=r.lot_id,
            status=r.status,
            bidder_number=r.bidder_number,
            user_id=u.id,
            username=u.username,
            display_name=u.display_name,
            phone=u.phone,
            priority=r.priority,
            deposit_fen=r.deposit_fen,
            note=r.note,
            reject_reason=r.reject_reason,
            created_at=r.created_at,
        )
        for r, u in rows
    ]


@router.post("/lots/{lot_id}/registrations/{registration_id}/approve")
async def approve(
    lot_id: LotId,
    registration_id: RegistrationId,
    body: Approval,
    official: OfficialUser,
    session: SessionDep,
) -> dict[str, Any]:
    registration = await registrations_service.approve(
        session,
        official,
        lot_id,
        registration_id,
        deposit_fen=body.deposit_fen,
        note=body.note,
        priority=body.priority,
    )
    return {"status": registration.status, "bidder_number": registration.bidder_number}


@router.post("/lots/{lot_id}/registrations/{registration_id}/reject")
async def reject(
    lot_id: LotId,
    registration_id: RegistrationId,
    body: Rejection,
    official: OfficialUser,
    session: SessionDep,
) -> dict[str, Any]:
    registration = await registrations_service.reject(
        session, official, lot_id, registration_id, body.reason
    )
    return {"status": registration.status, "reason": registration.reject_reason}


@router.get("/me/registrations", response_model=list[MyRegistration])
async def my_registrations(bidder: BidderUser, session: SessionDep) -> list[MyRegistration]:
    rows = await registrations_service.list_mine(session, bidder)
    return [
        MyRegistration(
            id=r.id,
            lot_id=lot.id,
            lot_title=lot.title,
            status=r.status,
            bidder_number=r.bidder_number,
            reject_reason=r.reject_reason,
        )
        for r, lot in rows
    ]
