"""The deadline scheduler: in every process, ends due rounds, turns and lots on the server clock.

It keeps no state of its own: due times live on the lot rows (``next_due_at``), so a restarted
process resumes every pending deadline, and the conditional transition in
``advance_due_lot`` makes two processes acting on the same lot harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.db import transaction, utcnow
from app.lots import service as lots_service
from app.lots.models import Lot
from app.runtime import Runtime

logger = logging.getLogger(__name__)
BATCH = 100


async def run_due(maker: async_sessionmaker[AsyncSession]) -> int:
    """Advance every lot that is due now; returns how many changed."""
    async with maker() as session:
        due = (
            (
                await session.execute(
                    select(Lot.id)
                    .where(Lot.next_due_at <= utcnow())
                    .order_by(Lot.next_due_at)
                    .limit(BATCH)
                )
            )
            .scalars()
            .all()
        )
    changed = 0
    for lot_id in due:
        try:
            async with transaction(maker) as session:
                changed += await lots_service.advance_due_lot(session, lot_id)
        except Exception:
            logger.exception("the scheduler could not advance lot %s", lot_id)
    return changed


async def seconds_until_next(maker: async_sessionmaker[AsyncSession], longest: float) -> float:
    async with maker() as session:
        next_due = (await session.execute(select(func.min(Lot.next_due_at)))).scalar_one_or_none()
    if next_due is None:
        return longest
    if next_due.tzinfo is None:  # SQLite's MIN() loses the column's type
        next_due = next_due.replace(tzinfo=utcnow().tzinfo)
    return min(longest, max(0.0, (next_due - utcnow()).total_seconds()))


async def run_scheduler(
    maker: async_sessionmaker[AsyncSession], runtime: Runtime, max_sleep_s: float
) -> None:
    """Loop forever: act on what is due, then sleep until the next deadline or a wake-up."""
    while True:
        runtime.scheduler_wakeup.clear()
        try:
            await run_due(maker)
            delay = await seconds_until_next(maker, max_sleep_s)
        except Exception:
            logger.exception("scheduler pass failed; retrying")
            delay = max_sleep_s
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(runtime.scheduler_wakeup.wait(), timeout=delay)
