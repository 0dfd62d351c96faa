"""What one app process shares between requests: writer locks, cached lot states, wake-ups.

It rides on every session (``session.info["runtime"]``), so services reach it without globals and
two apps in one process (as in tests) never share it.
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from weakref import WeakValueDictionary

from sqlalchemy.ext.asyncio import AsyncSession

from app.auction import LotState
from app.audit.keys import LogSigner, load_or_create_signer
from app.config import Settings
from app.metrics import Metrics

EventListener = Callable[[int, list[Any]], Awaitable[None]]


class StateCache:
    """The latest committed state of recently used lots, with the sequence number it is at.

    A state is used only if its sequence number equals the lot row's, read under the lot's lock,
    so a state another process moved on is never trusted; the events since are replayed instead.
    """

    def __init__(self, capacity: int = 2048) -> None:
        self.capacity = capacity
        self._states: OrderedDict[int, tuple[int, LotState]] = OrderedDict()

    def get(self, lot_id: int) -> tuple[int, LotState] | None:
        """The cached (seq, state); states are immutable, so sharing one is safe."""
        return self._states.get(lot_id)

    def put(self, lot_id: int, seq: int, state: LotState) -> None:
        self._states[lot_id] = (seq, state)
        self._states.move_to_end(lot_id)
        while len(self._states) > self.capacity:
            self._states.popitem(last=False)


@dataclass
class Runtime:
    single_writer: bool
    """SQLite has one writer for the whole file: one process-wide lock instead of one per lot."""
    signer: LogSigner
    metrics: Metrics = field(default_factory=Metrics)
    states: StateCache = field(default_factory=StateCache)
    scheduler_wakeup: asyncio.Event = field(default_factory=asyncio.Event)
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

    async def publish(self, lot_id: int, records: list[Any]) -> None:
        for listener in self.listeners:
            await listener(lot_id, records)


def build_runtime(settings: Settings) -> Runtime:
    return Runtime(
        single_writer=settings.is_sqlite,
        signer=load_or_create_signer(settings.data_dir, settings.signing_key_file),
    )


def runtime_of(session: AsyncSession) -> Runtime:
    runtime: Runtime = session.info["runtime"]
    return runtime
