"""Personal messages for a signed-in bidder's own socket: you lead, outbid, your turn."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

TURN_WARNING_S = 30


@dataclass
class BidderView:
    """What one bidder's socket remembers to tell them what an event means for them."""

    number: str
    leading: bool = False
    reminder: asyncio.TimerHandle | None = None
    """The pending "your turn ends in 30 s" message, cancelled when the socket goes."""

    def messages(self, event: dict[str, Any]) -> list[dict[str, Any]]:
        kind = event.get("type")
        if kind == "bid_placed" and "bidder" in event:
            if event["bidder"] == self.number:
                self.leading = True
                return [self._personal("you_lead", amount_fen=event.get("amount_fen"))]
            if self.leading:
                self.leading = False
                return [self._personal("outbid", amount_fen=event.get("amount_fen"))]
        if kind == "turn_started" and event.get("bidder") == self.number:
            return [self._personal("your_turn", deadline=event.get("deadline"))]
        if kind == "lot_closed":
            result = event.get("result") or {}
            won = result.get("winner") == self.number
            return [self._personal("you_won" if won else "lot_closed", result=result)]
        return []

    def _personal(self, kind: str, **fields: Any) -> dict[str, Any]:
        return {"type": "personal", "kind": kind, "bidder_number": self.number, **fields}
