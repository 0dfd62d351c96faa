"""The database itself refuses to change or remove events, on SQLite and PostgreSQL alike."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError

from app.audit.models import EventRecord
from tests.audit.world import closed_lot_world


async def _count(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return (await session.execute(select(func.count()).select_from(EventRecord))).scalar_one()


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE events SET payload = '{}' WHERE seq = 3",
        "UPDATE events SET seq = seq + 1000",
        "DELETE FROM events WHERE seq = 3",
        "DELETE FROM events",
    ],
)
async def test_the_database_refuses_to_rewrite_the_log(
    client: httpx.AsyncClient, app: FastAPI, statement: str
) -> None:
    await closed_lot_world(client, app, bids=1)
    before = await _count(app)

    with pytest.raises(DBAPIError, match="append-only"):
        async with app.state.engine.begin() as connection:
            await connection.exec_driver_sql(statement)

    assert await _count(app) == before


async def test_postgresql_also_refuses_to_truncate_the_log(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    if app.state.engine.dialect.name != "postgresql":
        pytest.skip("TRUNCATE is a PostgreSQL statement")
    await closed_lot_world(client, app, bids=1)

    with pytest.raises(DBAPIError, match="append-only"):
        async with app.state.engine.begin() as connection:
            await connection.exec_driver_sql("TRUNCATE events CASCADE")
