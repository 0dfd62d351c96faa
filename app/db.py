"""The async engine, sessions and the declarative base shared by every feature's models."""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import DateTime, MetaData, event
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeDecorator

from app.config import Settings

logger = logging.getLogger(__name__)

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

WRITE_LOCK = {"sqlite_begin_immediate": True}
"""Execution options for a unit of work that will write: SQLite takes its write lock up front."""


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores no zone, so add it back)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored; use UTC-aware ones")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def utcnow() -> datetime:
    """The server's clock: the only clock the service trusts."""
    return datetime.now(UTC)


def create_engine(settings: Settings) -> AsyncEngine:
    url = make_url(settings.effective_database_url)
    if url.get_backend_name() == "sqlite":
        return _create_sqlite_engine(url.render_as_string(hide_password=False), settings)
    return create_async_engine(
        url,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_pool_size,
        # No pre-ping (a round trip per checkout, ~10 % of a bid): a connection that died with
        # a restart of PostgreSQL fails its first statement, is dropped from the pool, and the
        # request answers 503 once; the client retries with its Idempotency-Key.
    )


class _InlineConnection(aiosqlite.Connection):
    """aiosqlite, with only the calls that wait sent to its thread.

    aiosqlite runs every call on a thread of its own and wakes the event loop with the answer:
    two thread switches for each statement and fetch, most of the CPU of a bid. Reading and
    writing pages in SQLite's cache takes microseconds, so those run inline, with SQLite's busy
    timeout at zero: a statement that would wait for a lock held elsewhere fails at once with
    SQLITE_BUSY (changing nothing) and is run again on the thread, where it may wait. Commits
    (their fsync) always go to the thread. So the event loop never stalls on a lock, not even
    on one held by another task of the same process.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], busy_timeout_ms: int) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self.busy_timeout_ms = busy_timeout_ms
        self._in_use = threading.Lock()
        """Held by whichever thread is using the sqlite3 connection: never two at once (a
        cancelled request can leave a commit running on the thread while SQLAlchemy closes
        the connection from the event loop)."""

    def _closes_or_commits(self, fn: Callable[..., Any]) -> bool:
        """The connection's own commit or close (not a cursor's close, which is cheap)."""
        connection = self._connection
        return connection is not None and fn in (connection.commit, connection.close)

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if self._closes_or_commits(fn):
            return await self._on_thread(self._waiting, fn, *args, **kwargs)
        if not self._running or self._connection is None:
            raise ValueError("Connection closed")
        if not self._in_use.acquire(blocking=False):
            # The thread is still at work on this connection: queue behind it.
            return await self._on_thread(self._waiting, fn, *args, **kwargs)
        try:
            return fn(*args, **kwargs)
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        finally:
            self._in_use.release()
        return await self._on_thread(self._waiting, fn, *args, **kwargs)

    async def _on_thread(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        return await super()._execute(fn, *args, **kwargs)  # type: ignore[no-untyped-call]

    def _waiting(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """On the thread: run ``fn`` allowing SQLite to wait for locks up to the timeout."""
        with self._in_use:
            connection = self._conn
            if fn == connection.close:
                return fn(*args, **kwargs)
            connection.execute(f"PRAGMA busy_timeout={self.busy_timeout_ms}")
            try:
                return fn(*args, **kwargs)
            finally:
                # Back to zero, or the next statement run inline could stall the event loop.
                connection.execute("PRAGMA busy_timeout=0")


def _create_sqlite_engine(url: str, settings: Settings) -> AsyncEngine:
    database = make_url(url).database
    if database and database != ":memory:":
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    busy_timeout = settings.sqlite_busy_timeout_ms

    def connect() -> aiosqlite.Connection:
        # check_same_thread=False: the connection is made on aiosqlite's thread, used on both.
        connection = _InlineConnection(
            lambda: sqlite3.connect(database or ":memory:", timeout=0, check_same_thread=False),
            busy_timeout,
        )
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own connections
        return connection

    engine = create_async_engine(url, async_creator=connect)

    @event.listens_for(engine.sync_engine, "connect")
    def _configure(dbapi_connection: Any, _: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when a transaction begins (see _begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: an accepted bid survives a power cut, not only a crash of the process.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute("PRAGMA foreign_keys=ON")
        # Zero: a statement meeting a lock is retried on the thread, waiting up to the settings'
        # timeout there (see _InlineConnection).
        cursor.execute("PRAGMA busy_timeout=0")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _begin(connection: Connection) -> None:
        # A writer takes the database's write lock before it reads what it decides on, so two
        # writers never both read the same state; readers stay deferred and never block.
        immediate = connection.get_execution_options().get("sqlite_begin_immediate", False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def create_sessionmaker(
    engine: AsyncEngine, info: dict[str, Any] | None = None
) -> async_sessionmaker[AsyncSession]:
    """Sessions of ``engine``; ``info`` (e.g. the process's runtime) is copied onto each."""
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False, info=info or {})


AfterCommit = Callable[[], Awaitable[None]]


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    """Run ``callback`` once the unit of work has committed (used to publish live events)."""
    session.info.setdefault("after_commit", []).append(callback)


async def run_after_commit(session: AsyncSession) -> None:
    """Run the commit callbacks; the data is durable by now, so a failing one is only logged."""
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        try:
            await callback()
        except Exception:
            logger.exception("an after-commit callback failed")


def hold_until_end(session: AsyncSession, release: Callable[[], None]) -> None:
    """Call ``release`` when the unit of work ends (after its commit callbacks, or its rollback)."""
    session.info.setdefault("on_end", []).append(release)


def _end(session: AsyncSession) -> None:
    for release in reversed(session.info.pop("on_end", [])):
        release()


async def unit_of_work(maker: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    """One session per request: commit once before the response, then publish what it changed.

    Locks taken with ``hold_until_end`` are released only after the commit and the publishing, so
    the next writer of the same lot starts from committed state and events go out in order.
    """
    async with maker() as session:
        try:
            yield session
            await session.commit()
            await run_after_commit(session)
        except BaseException:
            await session.rollback()
            session.info.pop("after_commit", None)
            raise
        finally:
            _end(session)


transaction = asynccontextmanager(unit_of_work)
"""``unit_of_work`` for code outside requests (the scheduler, the CLI): ``async with``."""
