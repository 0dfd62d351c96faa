"""The deadline scheduler: in every process, ends due rounds, turns and lots on the server clock.

It keeps no state of its own: due times live on the lot rows (``next_due_at``), so a restarted
process resumes every pending deadline, and the conditional transition in
``advance_due_lot`` makes two processes acting on the same lot harmless.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta

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


async def next_due_at(maker: async_sessionmaker[AsyncSession]) -> datetime | None:
    async with maker() as session:
        next_due = (await session.execute(select(func.min(Lot.next_due_at)))).scalar_one_or_none()
    if next_due is not None and next_due.tzinfo is None:  # SQLite's MIN() loses the column's type
        next_due = next_due.replace(tzinfo=UTC)
    return next_due


async def run_scheduler(
    maker: async_sessionmaker[AsyncSession], runtime: Runtime, max_sleep_s: float
) -> None:
    """Loop forever: act on what is due, then sleep until the next deadline or a wake-up.

    A commit in this process wakes it only when it made a lot due earlier than the time it
    sleeps until (``Runtime.due_at``); deadlines set by other processes are seen within
    ``max_sleep_s``.
    """
    while True:
        runtime.scheduler_wakeup.clear()
        runtime.scheduler_sleeps_until = None  # busy: every commit from now on will be seen
        try:
            await run_due(maker)
            next_due = await next_due_at(maker)
        except Exception:
            logger.exception("scheduler pass failed; retrying")
            next_due = None
        now = utcnow()
        wake_at = now + timedelta(seconds=max_sleep_s)
        if next_due is not None and next_due < wake_at:
            wake_at = max(now, next_due)
        runtime.scheduler_sleeps_until = wake_at
        with contextlib.suppress(TimeoutError):
            delay = (wake_at - now).total_seconds()
            await asyncio.wait_for(runtime.scheduler_wakeup.wait(), timeout=delay)
