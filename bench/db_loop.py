"""The database's limit for bids decided one transaction each: the statements of one accepted
bid, straight over the driver (aiosqlite or asyncpg), with no web layer, no ORM and no auction
rules.

It mirrors what ``app.bidding.service.place_bid`` did per bid before bids were decided in
batches (traced with SQLAlchemy's echo); the app now goes past this limit by sharing one
transaction among the bids that arrive together:

    auth session      BEGIN; SELECT users (by id); ROLLBACK
    unit of work      BEGIN IMMEDIATE (SQLite) / BEGIN (PostgreSQL)
                      SELECT lots ... FOR UPDATE           ledger.lock_lot
                      SELECT idempotent_requests           the Idempotency-Key
                      SELECT registrations.bidder_number   approved bidder?
                      SELECT log_head FOR UPDATE           audit_service.append_events
                      INSERT events; UPDATE log_head       (flush)
                      UPDATE lots                          ledger.project (flush)
                      INSERT idempotent_requests           the receipt
                      COMMIT

and, like the app, it queues the writers of the lot behind one ``asyncio.Lock`` in the process
(the app's ``Runtime.writer_lock``) and takes connections from a pool as big as SQLAlchemy's
(SQLite: 5 + 10 overflow; PostgreSQL: ``db_pool_size`` 10 + 10).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from typing import Any

from loadgen import BidderResult, receive, use_uvloop

LOT_COLUMNS = (
    "id, village_id, created_by, title, asset_kind, description, location, area_m2, "
    "lease_term_months, format, rules, starts_at, created_at, seq, status, phase, "
    "current_price_fen, leader, round, turn, deadline, next_due_at, head_hash, bid_count, "
    "result, updated_at"
)
USER_COLUMNS = (
    "id, username, password_hash, role, village_id, display_name, phone, is_active, created_at"
)


@dataclass(frozen=True)
class DbJob:
    backend: str
    database_url: str
    lot_id: int
    bidders: list[tuple[int, str]]
    """(user id, bidder number) of the bidders, used in turn by the concurrent tasks."""
    concurrency: int
    step_fen: int
    key_prefix: str


def _stamp(moment: datetime) -> str:
    """SQLAlchemy's storage form of a DateTime on SQLite."""
    return moment.strftime("%Y-%m-%d %H:%M:%S.%f")


class SQLiteDriver:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, path: str) -> SQLiteDriver:
        import aiosqlite

        connection = await aiosqlite.connect(path, isolation_level=None, timeout=10)
        connection.row_factory = aiosqlite.Row
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA synchronous=FULL",
            "PRAGMA foreign_keys=ON",
            "PRAGMA busy_timeout=10000",
        ):
            await connection.execute(pragma)
        return cls(connection)

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self.connection.execute_fetchall(sql, args))

    async def execute(self, sql: str, *args: Any) -> None:
        await self.connection.execute(sql, args)

    async def close(self) -> None:
        await self.connection.close()

    @staticmethod
    def time(moment: datetime) -> Any:
        return _stamp(moment)


class PostgresDriver:
    def __init__(self, connection: Any) -> None:
        self.connection = connection

    @classmethod
    async def connect(cls, dsn: str) -> PostgresDriver:
        import asyncpg

        return cls(await asyncpg.connect(dsn))

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(await self.connection.fetch(sql, *args))

    async def execute(self, sql: str, *args: Any) -> None:
        await self.connection.execute(sql, *args)

    async def close(self) -> None:
        await self.connection.close()

    @staticmethod
    def time(moment: datetime) -> Any:
        return moment


def _sql(text: str, postgres: bool) -> str:
    """Statements are written with ``?``; PostgreSQL numbers them ``$1, $2, ...``."""
    if not postgres:
        return text
    parts = text.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


class BidStatements:
    def __init__(self, postgres: bool) -> None:
        lock = " FOR UPDATE" if postgres else ""
        q = _sql
        self.begin_read = "BEGIN"
        self.begin_write = "BEGIN" if postgres else "BEGIN IMMEDIATE"
        self.user = q(f"SELECT {USER_COLUMNS} FROM users WHERE users.id = ?", postgres)
        self.lot = q(f"SELECT {LOT_COLUMNS} FROM lots WHERE lots.id = ?{lock}", postgres)
        self.idempotency = q(
            'SELECT user_id, "key", lot_id, request_hash, status_code, response, created_at '
            'FROM idempotent_requests WHERE user_id = ? AND "key" = ?',
            postgres,
        )
        self.registration = q(
            "SELECT bidder_number FROM registrations "
            "WHERE lot_id = ? AND user_id = ? AND status = ?",
            postgres,
        )
        self.head = f"SELECT id, seq, hash FROM log_head{lock}"
        self.insert_event = q(
            "INSERT INTO events (seq, lot_id, lot_seq, type, payload, actor, at, prev_hash, "
            "lot_prev_hash, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            postgres,
        )
        self.update_head = q("UPDATE log_head SET seq = ?, hash = ? WHERE id = ?", postgres)
        self.update_lot = q(
            "UPDATE lots SET seq = ?, current_price_fen = ?, leader = ?, round = ?, "
            "deadline = ?, next_due_at = ?, head_hash = ?, bid_count = ?, updated_at = ? "
            "WHERE id = ?",
            postgres,
        )
        self.insert_idempotency = q(
            'INSERT INTO idempotent_requests (user_id, "key", lot_id, request_hash, '
            "status_code, response, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            postgres,
        )


async def _connect(job: DbJob) -> SQLiteDriver | PostgresDriver:
    from sqlalchemy.engine import make_url

    url = make_url(job.database_url)
    if job.backend == "sqlite":
        assert url.database is not None
        return await SQLiteDriver.connect(url.database)
    dsn = url.set(drivername="postgresql").render_as_string(hide_password=False)
    return await PostgresDriver.connect(dsn)


class BidLoop:
    def __init__(self, job: DbJob, pool: asyncio.Queue[SQLiteDriver | PostgresDriver]) -> None:
        self.job = job
        self.pool = pool
        self.sql = BidStatements(job.backend == "postgresql")
        self.writer_lock = asyncio.Lock()

    async def auth(self, user_id: int) -> None:
        driver = await self.pool.get()
        try:
            await driver.execute(self.sql.begin_read)
            await driver.fetch(self.sql.user, user_id)
            await driver.execute("ROLLBACK")
        finally:
            self.pool.put_nowait(driver)

    async def bid(self, user_id: int, key: str) -> None:
        async with self.writer_lock:
            driver = await self.pool.get()
            try:
                await self._write(driver, user_id, key)
            finally:
                self.pool.put_nowait(driver)

    async def _write(self, driver: SQLiteDriver | PostgresDriver, user_id: int, key: str) -> None:
        sql, job = self.sql, self.job
        await driver.execute(sql.begin_write)
        try:
            (lot,) = await driver.fetch(sql.lot, job.lot_id)
            assert not await driver.fetch(sql.idempotency, user_id, key)
            (registration,) = await driver.fetch(sql.registration, job.lot_id, user_id, "approved")
            (head,) = await driver.fetch(sql.head)
            now = datetime.now(UTC)
            deadline = now + timedelta(hours=1)
            amount = (lot["current_price_fen"] or 0) + job.step_fen
            number = registration["bidder_number"]
            data = {"amount_fen": amount, "bidder": number, "round": lot["round"] + 1}
            payload = json.dumps(data, separators=(",", ":"), sort_keys=True)
            seq, lot_seq = head["seq"] + 1, lot["seq"] + 1
            lot_prev = lot["head_hash"] or "0" * 64
            digest = hashlib.sha256(f"{head['hash']}{seq}{payload}".encode()).hexdigest()
            await driver.execute(
                sql.insert_event,
                seq,
                job.lot_id,
                lot_seq,
                "bid_placed",
                payload,
                f"user:{user_id}",
                driver.time(now),
                head["hash"],
                lot_prev,
                digest,
            )
            await driver.execute(sql.update_head, seq, digest, 1)
            await driver.execute(
                sql.update_lot,
                lot_seq,
                amount,
                number,
                lot["round"] + 1,
                driver.time(deadline),
                driver.time(deadline),
                digest,
                lot["bid_count"] + 1,
                driver.time(now),
                job.lot_id,
            )
            receipt = json.dumps({"lot_id": job.lot_id, "seq": lot_seq, "hash": digest, **data})
            request_hash = hashlib.sha256(key.encode()).hexdigest()
            await driver.execute(
                sql.insert_idempotency,
                user_id,
                key,
                job.lot_id,
                request_hash,
                201,
                receipt,
                driver.time(now),
            )
            await driver.execute("COMMIT")
        except BaseException:
            await driver.execute("ROLLBACK")
            raise


async def _task(
    loop: BidLoop, serial: int, window: tuple[float, float], result: BidderResult
) -> None:
    measure_from, stop_at = window
    user_id, _ = loop.job.bidders[serial % len(loop.job.bidders)]
    count = 0
    clock = time.monotonic
    while (started := clock()) < stop_at:
        count += 1
        await loop.auth(user_id)
        await loop.bid(user_id, f"{loop.job.key_prefix}-{serial}-{count}")
        if started >= measure_from:
            result.latencies.append(clock() - started)
            result.statuses[201] += 1


async def _run(pipe: Connection, job: DbJob) -> BidderResult:
    pool_size = min(job.concurrency, 15 if job.backend == "sqlite" else 20)
    pool: asyncio.Queue[SQLiteDriver | PostgresDriver] = asyncio.Queue()
    drivers = [await _connect(job) for _ in range(pool_size)]
    for driver in drivers:
        pool.put_nowait(driver)
    loop = BidLoop(job, pool)
    pipe.send("ready")
    window: tuple[float, float] = await receive(pipe)
    result = BidderResult()
    await asyncio.gather(*(_task(loop, n, window, result) for n in range(job.concurrency)))
    for driver in drivers:
        await driver.close()
    return result


def db_worker(pipe: Connection, job: DbJob) -> None:
    """Worker process: the driver loop at ``job.concurrency``, timed like the bidders."""
    use_uvloop()
    pipe.send(asyncio.run(_run(pipe, job)))
