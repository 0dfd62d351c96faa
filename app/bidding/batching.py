"""The bids waiting for a lot in this process, decided together in one transaction.

A hot lot gets many bids at once, and most of them lose a race: each decided in a
transaction of its own would pay the lock, the statements and the commit for a refusal.
Instead, the bids that arrive while one batch is being written wait for the next batch, and
a batch takes the lot's lock once, decides its bids in the order they came, writes the
accepted ones and commits once. Each request gets its answer only after that commit.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from app.errors import AppError

if TYPE_CHECKING:
    from app.accounts.models import User
    from app.bidding.schemas import BidRequest

MAX_BATCH = 64
"""Bids decided in one transaction at most; the rest wait for the next one."""

Answer = dict[str, Any]


def not_decided() -> AppError:
    return AppError(
        503,
        "bid_not_decided",
        "The server stopped before deciding this bid; send it again with the same Idempotency-Key.",
    )


@dataclass(eq=False, slots=True)
class PendingBid:
    bidder: User
    request: BidRequest
    key: str
    request_hash: str
    answer: asyncio.Future[Answer] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )

    def settle(self, outcome: Answer | BaseException) -> None:
        if self.answer.done():  # the request went away; the client retries with its key
            return
        if isinstance(outcome, BaseException):
            self.answer.set_exception(outcome)
        else:
            self.answer.set_result(outcome)


DecideBatch = Callable[[int, list[PendingBid]], Awaitable[None]]
"""Decides every bid of the batch and settles each one (after the commit)."""


@dataclass(eq=False)
class LotQueue:
    lot_id: int
    waiting: list[PendingBid] = field(default_factory=list)
    drainer: asyncio.Task[None] | None = None


class BidQueues:
    """One queue per lot with bids waiting in this process; a task drains each queue."""

    def __init__(self) -> None:
        self._queues: dict[int, LotQueue] = {}

    async def submit(self, lot_id: int, bid: PendingBid, decide: DecideBatch) -> Answer:
        queue = self._queues.get(lot_id)
        if queue is None:
            queue = self._queues[lot_id] = LotQueue(lot_id)
        queue.waiting.append(bid)
        if queue.drainer is None or queue.drainer.done():
            # A context of its own: the drainer outlives the request that started it.
            queue.drainer = asyncio.create_task(
                self._drain(queue, decide), name=f"bids-{lot_id}", context=contextvars.Context()
            )
        return await bid.answer

    async def _drain(self, queue: LotQueue, decide: DecideBatch) -> None:
        try:
            while queue.waiting:
                batch, queue.waiting = queue.waiting[:MAX_BATCH], queue.waiting[MAX_BATCH:]
                # A request that went away before its batch began bids nothing.
                batch = [bid for bid in batch if not bid.answer.done()]
                if not batch:
                    continue
                try:
                    await decide(queue.lot_id, batch)
                except BaseException:
                    for bid in batch:  # cancelled (shutdown): nobody may wait for ever
                        bid.settle(not_decided())
                    raise
        finally:
            queue.drainer = None
            for bid in queue.waiting:  # only if the drainer itself was cancelled
                bid.settle(not_decided())
            queue.waiting.clear()
            if self._queues.get(queue.lot_id) is queue:
                del self._queues[queue.lot_id]

    async def close(self) -> None:
        for queue in list(self._queues.values()):
            if queue.drainer is not None:
                queue.drainer.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await queue.drainer
            for bid in queue.waiting:  # a drainer cancelled before it ever ran
                bid.settle(not_decided())
            queue.waiting.clear()
        self._queues.clear()
