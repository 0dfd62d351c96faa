"""The brokers against a real PostgreSQL and a real Redis: announcements arrive, and a broker
whose connection is cut reconnects by itself and has the hub catch up from the database."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any, cast

import asyncpg
import pytest
from redis.asyncio import Redis
from sqlalchemy import make_url

from app.config import Settings
from app.live import brokers
from app.live.brokers import PostgresBroker, RedisBroker
from app.live.hub import LiveHub


class RecordingHub:
    """Stands where the live hub stands: records what the broker tells it."""

    def __init__(self) -> None:
        self.announced: list[tuple[int, int]] = []
        self.resyncs = 0

    def announce(self, lot_id: int, seq: int) -> None:
        self.announced.append((lot_id, seq))

    def resync(self) -> None:
        self.resyncs += 1


def _dsn(settings: Settings) -> str:
    url = make_url(settings.effective_database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def _make(kind: str, settings: Settings, hub: RecordingHub) -> PostgresBroker | RedisBroker:
    live_hub = cast(LiveHub, hub)
    if kind == "postgres":
        return PostgresBroker(live_hub, _dsn(settings))
    return RedisBroker(live_hub, settings.redis_url)


async def _until(condition: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.01)


Brokers = list[PostgresBroker | RedisBroker]


async def _connected(
    kind: str, settings: Settings, started: Brokers
) -> tuple[RecordingHub, RecordingHub, PostgresBroker | RedisBroker, PostgresBroker | RedisBroker]:
    """A sending and a listening broker, both connected (each has had its first resync)."""
    sending, listening = RecordingHub(), RecordingHub()
    sender, listener = _make(kind, settings, sending), _make(kind, settings, listening)
    for broker in (sender, listener):
        await broker.start()
        started.append(broker)
    await _until(lambda: sending.resyncs and listening.resyncs)
    return sending, listening, sender, listener


async def _announce(broker: PostgresBroker | RedisBroker, lot_id: int, seq: int) -> None:
    await broker.announce(lot_id, [cast(Any, SimpleNamespace(lot_seq=seq))])


@pytest.fixture
def postgres_only(settings: Settings) -> Settings:
    if settings.is_sqlite:
        pytest.skip("the brokers join several processes on PostgreSQL")
    return settings


@pytest.fixture
async def started() -> AsyncIterator[list[PostgresBroker | RedisBroker]]:
    running: list[PostgresBroker | RedisBroker] = []
    yield running
    for broker in running:
        await broker.close()


async def test_announcements_crossing_the_keepalive_never_cost_the_connection(
    postgres_only: Settings,
    started: list[PostgresBroker | RedisBroker],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A notify and the keepalive on one connection at once: asyncpg refuses the second, and
    a first version held announcements back a second or took it for a lost connection."""
    monkeypatch.setattr(brokers, "KEEPALIVE_S", 0.001)
    sending, listening, sender, listener = await _connected("postgres", postgres_only, started)
    lot_id = random.randrange(10**9, 2 * 10**9)

    for seq in range(1, 301):
        await _announce(sender, lot_id, seq)
        await asyncio.sleep(0.001)

    await _until(lambda: (lot_id, 300) in listening.announced)
    seen = [seq for lot, seq in listening.announced if lot == lot_id]
    assert seen == sorted(seen)
    assert (sending.resyncs, listening.resyncs) == (1, 1)
    assert [r.getMessage() for r in caplog.records if r.name == brokers.__name__] == []


async def _cut(kind: str, settings: Settings, broker: PostgresBroker | RedisBroker) -> None:
    if kind == "postgres":
        assert isinstance(broker, PostgresBroker)
        assert broker._connection is not None
        pid = broker._connection.get_server_pid()
        admin = await asyncpg.connect(_dsn(settings))
        try:
            assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        finally:
            await admin.close()
    else:
        admin = Redis.from_url(settings.redis_url)
        try:
            assert await admin.client_kill_filter(_type="pubsub") >= 1
        finally:
            await admin.aclose()


@pytest.mark.parametrize("kind", ["postgres", "redis"])
async def test_a_broker_whose_connection_is_cut_reconnects_and_has_the_hub_catch_up(
    postgres_only: Settings,
    started: list[PostgresBroker | RedisBroker],
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
) -> None:
    monkeypatch.setattr(brokers, "KEEPALIVE_S", 0.05)
    monkeypatch.setattr(brokers, "RECONNECT_DELAY_S", 0.05)
    sending, listening, sender, listener = await _connected(kind, postgres_only, started)
    lot_id = random.randrange(10**9, 2 * 10**9)

    await _cut(kind, postgres_only, listener)
    # Whatever was announced while it was away is read from the database: the hub is told.
    await _until(lambda: listening.resyncs == 2)
    await _announce(sender, lot_id, 1)
    await _until(lambda: (lot_id, 1) in listening.announced)


async def test_many_lots_moving_at_once_are_all_announced(
    postgres_only: Settings, started: list[PostgresBroker | RedisBroker]
) -> None:
    """PostgreSQL refuses a notification of 8,000 bytes or more: 2,000 lots (a scheduler
    opening a county's lots at once) are announced in several."""
    sending, listening, sender, listener = await _connected("postgres", postgres_only, started)
    first = random.randrange(10**9, 2 * 10**9)
    lots = range(first, first + 2_000)

    for lot_id in lots:
        await _announce(sender, lot_id, 1)

    await _until(lambda: {(lot_id, 1) for lot_id in lots} <= set(listening.announced))
