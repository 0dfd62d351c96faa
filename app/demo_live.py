"""``auction demo --live``: a few simulated bidders keep the demo's market lease moving."""

from __future__ import annotations

import asyncio
import logging
import random
import secrets

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import auction
from app.accounts.models import User
from app.bidding import service as bidding
from app.bidding.schemas import BidRequest
from app.errors import AppError
from app.lots.models import Lot, Registration

logger = logging.getLogger(__name__)
LIVE_TITLE = "梅阁市场租赁经营权"
BUDGET_FEN = (450_000 * 100, 620_000 * 100)
"""Each simulated bidder stops somewhere in this range, so the lot ends, sold, by itself."""


async def _live_lot(session: AsyncSession) -> Lot | None:
    query = select(Lot).where(Lot.title == LIVE_TITLE, Lot.status == "open")
    return (await session.execute(query)).scalars().first()


async def run_simulated_bidders(
    maker: async_sessionmaker[AsyncSession], pause_s: tuple[float, float] = (4.0, 12.0)
) -> None:
    """Bid as the demo's bidders now and then, each up to a budget, until the lot closes."""
    async with maker() as session:
        lot = await _live_lot(session)
        if lot is None:
            logger.warning("demo --live: no open lot titled %s", LIVE_TITLE)
            return
        rows = await session.execute(
            select(User, Registration.bidder_number)
            .join(Registration, Registration.user_id == User.id)
            .where(Registration.lot_id == lot.id, Registration.status == "approved")
        )
        bidders = [(user, number) for user, number in rows.all()]
    lot_id, step = lot.id, int(lot.rules["step_fen"])
    budgets = {number: random.randint(*BUDGET_FEN) for _, number in bidders}
    while True:
        await asyncio.sleep(random.uniform(*pause_s))
        async with maker() as session:
            lot = await session.get(Lot, lot_id)
        if lot is None or lot.status in ("closed", "cancelled"):
            return
        price = lot.current_price_fen or int(lot.rules["start_price_fen"]) - step
        amount = price + step * random.choice((1, 1, 2, 5))
        eager = [(u, n) for u, n in bidders if n != lot.leader and budgets[n] >= amount]
        if not eager or lot.status != "open":
            continue
        user, _ = random.choice(eager)
        try:
            request = BidRequest(amount_fen=amount)
            await bidding.place_bid(maker, user, lot_id, request, secrets.token_hex(8))
        except (AppError, auction.RuleViolation) as exc:
            logger.info("demo --live: a simulated bid was refused: %s", exc)
