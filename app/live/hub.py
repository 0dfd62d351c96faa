"""Fan-out of each lot's events to the sockets watching it in this process: in order, gap-free.

One channel per watched lot keeps the last sequence number it delivered. Events arrive from this
process's commits (with the records in hand) or as announcements from the broker (a lot and a
sequence number); whatever the channel has not seen is read from the database, so a missed or
reordered announcement can delay an event but never lose it. Each event is encoded once and the
same text goes to every watcher's bounded queue; a watcher whose queue is full is dropped with
``CLOSE_LAGGING`` and resumes with ``?after=``. A queue holds batches (one per commit or
catch-up), so a burst of events is one item: only a watcher behind by many commits is dropped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.audit import service as audit_service
from app.audit.models import EventRecord
from app.db import utcnow
from app.live import frames
from app.lots.models import Lot

logger = logging.getLogger(__name__)

CLOSE_LAGGING = 4000
"""The watcher fell behind; reconnect with ``?after=<last seq seen>`` to resume."""
CLOSE_RESTARTING = 1012
"""The server is shutting down; reconnect (to any instance) with ``?after=``."""


@dataclass(frozen=True, slots=True)
class Delivery:
    """One event for watchers: its per-lot seq, its frame text, its public form, and the text as
    a WebSocket frame on the wire."""

    seq: int
    text: str
    event: dict[str, Any]
    wire: bytes = b""


Batch = tuple[Delivery, ...]
LAGGING: Batch = (Delivery(-1, "", {}),)
HEARTBEAT = -2
DIRECT_LIMIT = 64 * 1024
"""The most the hub writes to a socket at once itself; a longer backlog goes through the
watcher's queue, which waits for the connection to take it."""


@dataclass(eq=False)
class DirectLine:
    """A socket the hub may write to itself, without waking the watcher's own task.

    ``write`` puts a complete frame on the connection at once, or returns False if the
    connection is closing; ``writable()`` says whether its buffer has room.
    """

    write: Callable[[bytes], bool]
    writable: Callable[[], bool]


@dataclass(eq=False)
class Watcher:
    lot_id: int
    queue: asyncio.Queue[Batch]
    bidder: str | None = None
    """The bidder number of a signed-in, approved bidder: they get personal messages."""
    lagging: bool = False
    on_lagging: Callable[[], object] | None = None
    """Set by the socket: drop the connection even if a send to it is stuck."""
    sent: int = 0
    """The last per-lot seq sent to the socket (by the snapshot, the catch-up or live)."""
    busy: bool = True
    """The socket's task is sending: the hub queues for it rather than writing itself."""
    direct: DirectLine | None = None

    def deliver(self, batch: Batch, wire: bytes) -> None:
        """Write ``batch`` (whose frames are ``wire``) at once if the socket is idle with room,
        else queue it."""
        line = self.direct
        if line is None or self.busy or self.lagging or not self.queue.empty():
            self.offer(batch)
            return
        if not line.writable() or len(wire) > DIRECT_LIMIT:
            self.offer(batch)  # a long backlog goes through the queue, which waits for room
            return
        if batch[0].seq <= self.sent:  # its catch-up already sent some: only what follows
            wire = b"".join(delivery.wire for delivery in batch if delivery.seq > self.sent)
        if wire and not line.write(wire):
            # Closing: the socket's own task sees it and ends.
            self.direct = None
            self.offer(batch)
            return
        self.sent = max(self.sent, batch[-1].seq)

    def offer(self, batch: Batch) -> None:
        if self.lagging:
            return
        try:
            self.queue.put_nowait(batch)
        except asyncio.QueueFull:
            # Never wait for a slow reader: drop its backlog and tell it to resume later.
            self.lagging = True
            logger.info("dropping a watcher of lot %s that fell behind", self.lot_id)
            while not self.queue.empty():
                self.queue.get_nowait()
            self.queue.put_nowait(LAGGING)
            if self.on_lagging is not None:
                self.on_lagging()


@dataclass(eq=False)
class LotChannel:
    lot_id: int
    format: str
    last_seq: int
    watchers: set[Watcher] = field(default_factory=set)
    inbox: asyncio.Queue[Sequence[EventRecord] | int | None] = field(default_factory=asyncio.Queue)
    task: asyncio.Task[None] | None = None


class LiveHub:
    def __init__(
        self,
        maker: async_sessionmaker[AsyncSession],
        queue_size: int = 256,
        on_remote_lag: Callable[[float], None] | None = None,
    ) -> None:
        self.maker = maker
        self.on_remote_lag = on_remote_lag
        """Told, for events read back after another process's commit, how late they are."""
        self.queue_size = queue_size
        self.channels: dict[int, LotChannel] = {}
        self._joining: dict[int, asyncio.Lock] = {}

    def count(self, lot_id: int) -> int:
        channel = self.channels.get(lot_id)
        return len(channel.watchers) if channel else 0

    @property
    def watcher_total(self) -> int:
        return sum(len(channel.watchers) for channel in self.channels.values())

    async def join(self, lot_id: int, bidder: str | None = None) -> Watcher:
        """Register a watcher before it reads its snapshot, so nothing falls in between."""
        watcher = Watcher(lot_id, asyncio.Queue(self.queue_size), bidder)
        lock = self._joining.setdefault(lot_id, asyncio.Lock())
        async with lock:
            channel = self.channels.get(lot_id)
            if channel is None:
                async with self.maker() as session:
                    row = (
                        await session.execute(select(Lot.format, Lot.seq).where(Lot.id == lot_id))
                    ).one()
                channel = LotChannel(lot_id, row.format, row.seq)
                channel.task = asyncio.create_task(self._run(channel), name=f"lot-{lot_id}")
                self.channels[lot_id] = channel
            channel.watchers.add(watcher)
        return watcher

    def leave(self, watcher: Watcher) -> None:
        channel = self.channels.get(watcher.lot_id)
        if channel is None:
            return
        channel.watchers.discard(watcher)
        if not channel.watchers and channel.task is not None:
            channel.task.cancel()
            del self.channels[watcher.lot_id]

    async def local_commit(self, lot_id: int, records: list[EventRecord]) -> None:
        """A commit of this process: the records are in hand, no need to read them back."""
        channel = self.channels.get(lot_id)
        if channel is not None:
            channel.inbox.put_nowait(records)

    def announce(self, lot_id: int, seq: int) -> None:
        """Another process committed up to ``seq`` on the lot (from the broker)."""
        channel = self.channels.get(lot_id)
        if channel is not None and seq > channel.last_seq:
            channel.inbox.put_nowait(seq)

    def resync(self) -> None:
        """After the broker reconnected: announcements may be lost, so look in the database."""
        for channel in self.channels.values():
            channel.inbox.put_nowait(None)

    def heartbeat(self) -> None:
        """A heartbeat for every watcher: encoded once per lot, with its watcher count."""
        now = utcnow()
        for channel in self.channels.values():
            text = frames.heartbeat_frame(now, len(channel.watchers))
            batch = (Delivery(HEARTBEAT, text, {}),)
            for watcher in channel.watchers:
                watcher.offer(batch)

    async def close(self) -> None:
        for channel in list(self.channels.values()):
            if channel.task is not None:
                channel.task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await channel.task
        self.channels.clear()

    async def _run(self, channel: LotChannel) -> None:
        while True:
            # Everything that arrived while the last batch went out goes out together: under
            # load each socket then gets one write for several events, not one per event.
            items = [await channel.inbox.get()]
            while not channel.inbox.empty():
                items.append(channel.inbox.get_nowait())
            try:
                records = await self._unseen(channel, items)
                if not records:
                    continue
                batch = tuple(self._encode(channel.format, record) for record in records)
            except Exception:
                # Never let the channel's task die: its watchers would wait for ever.
                logger.exception("could not read events of lot %s; retrying", channel.lot_id)
                await asyncio.sleep(0.5)
                channel.inbox.put_nowait(None)
                continue
            channel.last_seq = batch[-1].seq
            # Idle sockets are written to from here, one after another, with the same bytes:
            # waking a task per watcher for every event costs more than the write itself.
            wire = b"".join(delivery.wire for delivery in batch)
            for watcher in tuple(channel.watchers):
                try:
                    watcher.deliver(batch, wire)
                except Exception:  # noqa: BLE001 - one broken socket must not stop the others
                    logger.exception("could not write to a watcher of lot %s", channel.lot_id)
                    watcher.direct = None

    @staticmethod
    def _encode(lot_format: str, record: EventRecord) -> Delivery:
        event = frames.public_event(lot_format, record)
        text = frames.dumps({"type": "event", "seq": record.lot_seq, "event": event})
        return Delivery(record.lot_seq or 0, text, event, frames.wire(text))

    async def _unseen(
        self, channel: LotChannel, items: list[Sequence[EventRecord] | int | None]
    ) -> Sequence[EventRecord]:
        """The events after the channel's last one: from this process's commits when they
        follow on without a gap, else read from the database."""
        last = channel.last_seq
        in_hand: list[EventRecord] = []
        look = False
        announced = 0
        for item in items:
            if item is None:
                look = True
            elif isinstance(item, int):
                announced = max(announced, item)
            else:
                for record in item:
                    seq = record.lot_seq or 0
                    if seq == last + 1:
                        in_hand.append(record)
                        last = seq
                    elif seq > last:
                        look = True  # a gap: something committed elsewhere came in between
        if not look and announced <= last:
            return in_hand
        async with self.maker() as session:
            records = await audit_service.lot_events(
                session, channel.lot_id, after_lot_seq=channel.last_seq
            )
        if records and self.on_remote_lag is not None:
            self.on_remote_lag((utcnow() - records[-1].at).total_seconds())
        return records
