"""The SQLite connection runs statements on the event loop and waits for locks on its thread."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from pathlib import Path

from app.db import _InlineConnection


async def _two_connections(
    tmp_path: Path, busy_timeout_ms: int
) -> tuple[sqlite3.Connection, _InlineConnection]:
    """Another program's connection to a WAL database, and the service's connection to it."""
    path = str(tmp_path / "lock.sqlite3")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("PRAGMA journal_mode=WAL")
    connection = await _InlineConnection(
        lambda: sqlite3.connect(path, timeout=0, check_same_thread=False, isolation_level=None),
        busy_timeout_ms=busy_timeout_ms,
    )
    return other, connection


async def test_a_connection_closed_while_its_thread_waits_for_a_lock_closes_after_it(
    tmp_path: Path,
) -> None:
    """A request cancelled while its statement waits for a lock on the thread, then the
    connection closed from the event loop (as SQLAlchemy does): the two never touch the
    connection at once (that crashed the process), and the close completes."""
    other, connection = await _two_connections(tmp_path, busy_timeout_ms=300)
    other.execute("BEGIN IMMEDIATE")
    waiting = asyncio.ensure_future(connection.execute("BEGIN IMMEDIATE"))
    await asyncio.sleep(0.05)  # it met the lock inline and now waits on the thread
    assert not waiting.done()
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting
    await connection.close()  # queued behind the waiting statement
    other.rollback()
    other.close()


async def test_a_statement_meeting_a_lock_waits_for_it_off_the_event_loop(
    tmp_path: Path,
) -> None:
    other, connection = await _two_connections(tmp_path, busy_timeout_ms=10_000)
    other.execute("CREATE TABLE t (x INTEGER)")
    other.execute("BEGIN IMMEDIATE")
    try:
        writing = asyncio.ensure_future(connection.execute("INSERT INTO t VALUES (1)"))
        ticks = 0
        while ticks < 5:  # the event loop keeps running while the insert waits
            await asyncio.sleep(0.01)
            ticks += 1
        assert not writing.done()
        other.rollback()
        await writing
        assert other.execute("SELECT x FROM t").fetchall() == [(1,)]
    finally:
        other.close()
        await connection.close()


async def test_the_event_loop_never_waits_for_a_lock_after_a_statement_used_the_thread(
    tmp_path: Path,
) -> None:
    """Once the thread has waited for a lock (or closed a cursor), statements run inline
    again with no busy timeout: a regression left the timeout set, and the next statement
    meeting a lock stalled the whole process for the timeout (10 s by default)."""
    other, connection = await _two_connections(tmp_path, busy_timeout_ms=10_000)
    other.execute("CREATE TABLE t (x INTEGER)")
    loop = asyncio.get_running_loop()
    try:
        other.execute("BEGIN IMMEDIATE")
        first = asyncio.ensure_future(connection.execute("INSERT INTO t VALUES (1)"))
        await asyncio.sleep(0.05)
        other.rollback()
        await (await first).close()

        other.execute("BEGIN IMMEDIATE")
        second = asyncio.ensure_future(connection.execute("INSERT INTO t VALUES (2)"))
        started = loop.time()
        await asyncio.sleep(0.01)
        assert loop.time() - started < 2, "the event loop stalled behind a lock"
        assert not second.done()
        other.rollback()
        await (await second).close()
        assert other.execute("SELECT x FROM t ORDER BY x").fetchall() == [(1,), (2,)]
    finally:
        other.close()
        await connection.close()
