"""What one app process shares between requests: writer locks, cached lot states, wake-ups.

It rides on every session (``session.info["runtime"]``), so services reach it without globals and
two apps in one process (as in tests) never share it.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar
from weakref import WeakValueDictionary

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.auction import LotState
from app.audit.keys import LogSigner, load_or_create_signer
from app.bidding.batching import BidQueues
from app.config import Settings
from app.metrics import Metrics

if TYPE_CHECKING:
    from app.accounts.models import User

EventListener = Callable[[int, list[Any]], Awaitable[None]]


K = TypeVar("K")
V = TypeVar("V")


class LruCache(Generic[K, V]):
    """At most ``capacity`` entries; the least recently used go first."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        self._entries[key] = value
        self._entries.move_to_end(key)
        while len(self._entries) > self.capacity:
            self._entries.popitem(last=False)


class StateCache(LruCache[int, tuple[int, LotState]]):
    """The latest committed state of recently used lots, with the sequence number it is at.

    A state is used only if its sequence number equals the lot row's, read under the lot's lock,
    so a state another process moved on is never trusted; the events since are replayed instead.
    States are immutable, so sharing one is safe.
    """

    def __init__(self, capacity: int = 2048) -> None:
        super().__init__(capacity)


class UserCache:
    """Signed-in users by id, kept a few seconds so a request does not read its user again.

    Role, village and name never change through the service; an account disabled in the
    database is refused again within ``ttl_s``.
    """

    def __init__(self, ttl_s: float = 5.0, capacity: int = 10_000) -> None:
        self.ttl_s = ttl_s
        self._users: LruCache[int, tuple[float, User]] = LruCache(capacity)

    def get(self, user_id: int) -> User | None:
        entry = self._users.get(user_id)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, user: User) -> None:
        self._users.put(user.id, (time.monotonic() + self.ttl_s, user))


@dataclass
class Runtime:
    single_writer: bool
    """SQLite has one writer for the whole file: one process-wide lock instead of one per lot."""
    signer: LogSigner
    metrics: Metrics = field(default_factory=Metrics)
    states: StateCache = field(default_factory=StateCache)
    users: UserCache = field(default_factory=UserCache)
    bidder_numbers: LruCache[tuple[int, int], str] = field(
        default_factory=lambda: LruCache(100_000)
    )
    """Approved bidders' numbers by (lot id, user id): approvals are final, numbers stable."""
    bid_queues: BidQueues = field(default_factory=BidQueues)
    """Bids waiting for their lot's next batch."""
    scheduler_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
    scheduler_sleeps_until: datetime | None = None
    """When the scheduler will look next (None: it is busy with a pass)."""
    listeners: list[EventListener] = field(default_factory=list)
    watcher_count: Callable[[int], int] = lambda lot_id: 0
    """How many sockets watch a lot in this process (set by the live hub)."""
    _locks: WeakValueDictionary[int, asyncio.Lock] = field(default_factory=WeakValueDictionary)

    def writer_lock(self, lot_id: int) -> asyncio.Lock:
        key = 0 if self.single_writer else lot_id
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    def due_at(self, due: datetime | None) -> None:
        """A lot became due at ``due``: wake the scheduler if it would look only later."""
        sleeps_until = self.scheduler_sleeps_until
        if due is not None and (sleeps_until is None or due < sleeps_until):
            self.scheduler_wakeup.set()  # if it is busy now, one more pass looks again

    async def publish(self, lot_id: int, records: list[Any]) -> None:
        for listener in self.listeners:
            await listener(lot_id, records)


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(
        single_writer=settings.is_sqlite,
        signer=load_or_create_signer(settings.data_dir, settings.signing_key_file),
    )


def runtime_of(source: AsyncSession | async_sessionmaker[AsyncSession]) -> Runtime:
    """The process's runtime, carried in the ``info`` of every session (and of their maker)."""
    info = source.info if isinstance(source, AsyncSession) else source.kw["info"]
    runtime: Runtime = info["runtime"]
    return runtime
