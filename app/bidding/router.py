"""HTTP endpoints of bidding: place a bid, the public ladder, priority decisions, my bids."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request

from app.accounts.models import Role, User
from app.bidding import service
from app.bidding.schemas import BidRequest, PriorityRequest, Receipt
from app.deps import (
    BidderUser,
    LotId,
    OptionalUser,
    SessionDep,
    Token,
    sessionmaker_of,
    user_in_role,
)
from app.errors import AppError
from app.lots import service as lots_service
from app.lots.schemas import LotSnapshot, PublicBid
from app.ratelimit import address_key, seconds

router = APIRouter(prefix="/api", tags=["bidding"])


async def _bidder_within_rate(request: Request, token: Token) -> User:
    """The signed-in bidder, unless they or their address bid faster than the settings allow
    (429). One dependency for the hottest route: FastAPI resolves each one on every request."""
    bidder = await user_in_role(request, token, Role.BIDDER)
    per_user, per_address = request.app.state.bid_limits
    wait = max(
        per_user.retry_after(f"user:{bidder.id}"), per_address.retry_after(address_key(request))
    )
    if wait:
        request.app.state.runtime.metrics.bids.labels("rate_limited").inc()
        raise AppError(
            429,
            "rate_limited",
            "Too many bids in a short time; wait a moment.",
            extra={"retry_after": seconds(wait)},
        )
    return bidder


@router.post("/lots/{lot_id}/bids", response_model=Receipt, status_code=201)
async def place_bid(
    request: Request,
    lot_id: LotId,
    body: BidRequest,
    bidder: Annotated[User, Depends(_bidder_within_rate)],
    idempotency_key: Annotated[str | None, Header()] = None,
) -> Any:
    """Bid (or keep / withdraw on a sequential turn); the answer is a signed receipt.

    Send a new ``Idempotency-Key`` with each bid and the same one when retrying it: a retry
    returns the first receipt and bids nothing.
    """
    maker = sessionmaker_of(request)
    return await service.place_bid(maker, bidder, lot_id, body, idempotency_key)


@router.get("/lots/{lot_id}/bids", response_model=list[PublicBid])
async def public_bids(lot_id: LotId, session: SessionDep, viewer: OptionalUser) -> Any:
    """The public bid ladder, by bidder number (sealed bids only once revealed)."""
    lot = await lots_service.get_visible_lot(session, viewer, lot_id)
    return await service.public_ladder(session, lot)


@router.post("/lots/{lot_id}/priority", response_model=LotSnapshot)
async def decide_priority(
    lot_id: LotId, body: PriorityRequest, holder: BidderUser, session: SessionDep
) -> Any:
    """A priority holder (优先权) matches the final price, or declines."""
    lot = await service.decide_priority(session, holder, lot_id, body.decision == "match")
    village = await lots_service.village_name(session, lot.village_id)
    return lots_service.snapshot(lot, village, session)


@router.get("/me/bids")
async def my_bids(bidder: BidderUser, session: SessionDep) -> list[dict[str, Any]]:
    """Every bid the signed-in bidder placed, newest first."""
    return await service.bids_of(session, bidder)
