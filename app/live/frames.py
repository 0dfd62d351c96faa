"""The WebSocket frames: each event is encoded once, as public viewers may see it."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from websockets.frames import Frame, Opcode

from app import auction
from app.audit.models import EventRecord


def dumps(message: dict[str, Any]) -> str:
    return json.dumps(message, ensure_ascii=False, separators=(",", ":"), default=_default)


def _default(value: object) -> str:
    if isinstance(value, datetime):
        return auction.format_time(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


def wire(text: str) -> bytes:
    """``text`` as a complete WebSocket text frame, ready for any socket: a server's frames
    are not masked, so every watcher gets the very same bytes."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False, extensions=[])


def public_event(lot_format: str, record: EventRecord) -> dict[str, Any]:
    """The event as anyone may see it. An event they may not see (a sealed bid, a registration)
    still takes its place, as ``hidden``, so every watcher's sequence stays gap-free."""
    event = auction.Event(record.type, record.at, json.loads(record.payload))
    data = auction.public_event_data(lot_format, event)
    body: dict[str, Any] = {"type": record.type, "at": auction.format_time(record.at)}
    if data is None:
        body["hidden"] = True
    else:
        body.update(data)
    return body


def event_frame(lot_format: str, record: EventRecord) -> str:
    return dumps(
        {"type": "event", "seq": record.lot_seq, "event": public_event(lot_format, record)}
    )


def heartbeat_frame(now: datetime, watchers: int) -> str:
    return dumps({"type": "heartbeat", "server_time": now, "watchers": watchers})
