"""Fixtures shared by every test: a fresh migrated database, settings, the app and clients.

Database tests run on SQLite by default and on PostgreSQL when AUCTION_TEST_DATABASE_URL is set
(``python -m tests.run`` does both). With CI=true an unreachable PostgreSQL fails the run.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.main import create_app
from tests.databases import POSTGRES_ENV, PostgresDatabases, SQLiteDatabases

Databases = SQLiteDatabases | PostgresDatabases


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if {"database_url", "empty_database_url"} & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.db)


def pytest_report_header() -> str:
    url = os.environ.get(POSTGRES_ENV)
    return f"database tests run on: {'PostgreSQL ' + url if url else 'SQLite'}"


@pytest.fixture(scope="session")
async def databases(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Databases]:
    server_url = os.environ.get(POSTGRES_ENV)
    if not server_url:
        sqlite = SQLiteDatabases(tmp_path_factory.mktemp("sqlite"))
        await sqlite.start()
        yield sqlite
        return
    postgres = PostgresDatabases(server_url)
    try:
        await postgres.start()
    except OSError as exc:
        pytest.fail(f"PostgreSQL at {server_url} is unreachable: {exc}", pytrace=False)
    try:
        yield postgres
    finally:
        await postgres.close()


@pytest.fixture
async def database_url(databases: Databases) -> AsyncIterator[str]:
    url = await databases.create()
    try:
        yield url
    finally:
        await databases.drop(url)


@pytest.fixture
async def empty_database_url(databases: Databases) -> AsyncIterator[str]:
    """A database of the backend under test with no tables yet (``auction migrate`` not run)."""
    url = await databases.create(empty=True)
    try:
        yield url
    finally:
        await databases.drop(url)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        secret_key="test-secret-key-not-for-production",
        database_url=database_url,
        data_dir=tmp_path,
        login_attempts_per_minute=5,
        login_attempts_per_minute_per_address=8,
        # Cheap hashes keep the suite fast; production uses argon2-cffi's recommended cost.
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )


@pytest.fixture
async def maker(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """Sessions on the test's database, for tests that run the app in other processes."""
    engine = create_engine(settings)
    yield create_sessionmaker(engine)
    await engine.dispose()


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
