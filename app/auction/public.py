"""What of an event public viewers may see: never the reserve, sealed bids or identities."""

from __future__ import annotations

from typing import Any

from app.auction.events import Event, is_informational
from app.auction.rules import public_rules


def public_event_data(format: str, event: Event) -> dict[str, Any] | None:
    """The event's data as watchers may see it, or None if they may not see the event.

    Sealed bids stay hidden (their round's highest amount is revealed by round_ended);
    initial bids of sequential rounds are revealed by lot_opened; who holds a priority
    right shows only when their window opens. Informational events are the service's
    own, so this returns None for them and leaves the choice to the service.
    """
    data = event.data
    kind = event.type
    if kind in ("lot_created", "rules_updated"):
        return {"format": data["format"], "rules": public_rules(data["format"], data["rules"])}
    if kind == "bidder_qualified":
        return {"bidder": data["bidder"]}
    if (kind == "bid_placed" and format == "sealed") or is_informational(kind):
        return None
    return dict(data)
