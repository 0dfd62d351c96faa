"""Fresh, migrated test databases: a SQLite file or a PostgreSQL database per test.

The schema is built once per run by ``alembic upgrade head`` into a template, then each test
gets a copy: a copied file on SQLite, ``CREATE DATABASE ... TEMPLATE`` on PostgreSQL.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from pathlib import Path

import asyncpg
from sqlalchemy.engine import URL, make_url

from app import schema

POSTGRES_ENV = "AUCTION_TEST_DATABASE_URL"


class SQLiteDatabases:
    name = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.template = workdir / "template.sqlite3"

    async def start(self) -> None:
        # Alembic's env runs its own event loop, so it gets a thread of its own.
        await asyncio.to_thread(schema.upgrade_to_head, self.url_for(self.template))

    @staticmethod
    def url_for(path: Path) -> str:
        return f"sqlite+aiosqlite:///{path.as_posix()}"

    async def create(self, *, empty: bool = False) -> str:
        """A migrated database, or with ``empty`` one that has no tables yet."""
        path = self.workdir / f"test-{uuid.uuid4().hex[:12]}.sqlite3"
        if not empty:
            shutil.copyfile(self.template, path)
        return self.url_for(path)

    async def drop(self, url: str) -> None:
        database = make_url(url).database
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)

    async def close(self) -> None:
        return None


class PostgresDatabases:
    name = "postgresql"

    def __init__(self, server_url: str) -> None:
        self.server: URL = make_url(server_url)
        self.prefix = f"auction_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
        self.template = f"{self.prefix}_template"
        self.created: list[str] = []

    def url_for(self, database: str) -> str:
        return self.server.set(database=database).render_as_string(hide_password=False)

    async def _admin(self) -> asyncpg.Connection:
        url = self.server.set(drivername="postgresql", database=self.server.database or "postgres")
        return await asyncpg.connect(url.render_as_string(hide_password=False))

    async def start(self) -> None:
        connection = await self._admin()
        try:
            await connection.execute(f'CREATE DATABASE "{self.template}"')
        finally:
            await connection.close()
        await asyncio.to_thread(schema.upgrade_to_head, self.url_for(self.template))

    async def create(self, *, empty: bool = False) -> str:
        """A migrated database, or with ``empty`` one that has no tables yet."""
        name = f"{self.prefix}_{uuid.uuid4().hex[:8]}"
        template = "template0" if empty else self.template
        connection = await self._admin()
        try:
            await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        finally:
            await connection.close()
        self.created.append(name)
        return self.url_for(name)

    async def drop(self, url: str) -> None:
        name = make_url(url).database
        connection = await self._admin()
        try:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await connection.close()
        if name in self.created:
            self.created.remove(name)

    async def close(self) -> None:
        for name in [*self.created, self.template]:
            await self.drop(self.url_for(name))
