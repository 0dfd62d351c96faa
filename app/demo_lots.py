"""The demo's lots, one per state; filled in once the lot services exist."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker


async def create_demo_lots(maker: async_sessionmaker[AsyncSession]) -> None:
    return None
