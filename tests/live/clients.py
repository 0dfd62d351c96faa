"""A watcher that records what it sees, reconnecting with ``?after=`` when told to."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from typing import Any

import websockets


@dataclass
class RecordingWatcher:
    url: str
    lot_id: int
    seqs: list[int] = field(default_factory=list)
    events: dict[int, dict[str, Any]] = field(default_factory=dict)
    snapshot_seq: int | None = None
    connections: int = 0

    @property
    def last_seq(self) -> int:
        return self.seqs[-1] if self.seqs else (self.snapshot_seq or 0)

    def _ws_url(self) -> str:
        base = self.url.replace("http://", "ws://")
        after = "" if self.snapshot_seq is None else f"?after={self.last_seq}"
        return f"{base}/ws/lots/{self.lot_id}{after}"

    def take(self, message: dict[str, Any]) -> None:
        if message["type"] == "snapshot":
            self.snapshot_seq = message["seq"]
        elif message["type"] == "event":
            self.seqs.append(message["seq"])
            self.events[message["seq"]] = message["event"]

    def done(self, final: Final) -> bool:
        return (
            final.seq is not None and self.snapshot_seq is not None and (self.last_seq >= final.seq)
        )

    async def watch(self, final: Final, frames_per_visit: int | None = None) -> None:
        """Watch until ``final.seq`` is known and seen; with ``frames_per_visit``, hang up after
        that many frames and come back with ``?after=`` (a phone dropping off the network)."""
        while not self.done(final):
            self.connections += 1
            try:
                await self._visit(final, frames_per_visit)
            except (
                websockets.ConnectionClosed,
                websockets.InvalidHandshake,
                OSError,
                TimeoutError,
            ):
                await asyncio.sleep(0.2)  # the server went away: come back, as a browser does

    async def _visit(self, final: Final, frames_per_visit: int | None) -> None:
        async with websockets.connect(self._ws_url(), open_timeout=30) as socket:
            taken = 0
            async for raw in socket:
                self.take(json.loads(raw))
                taken += 1
                if self.done(final) or (frames_per_visit is not None and taken >= frames_per_visit):
                    return


@dataclass
class Final:
    """The lot's last sequence number, once the test knows it (heartbeats wake the watchers)."""

    seq: int | None = None
