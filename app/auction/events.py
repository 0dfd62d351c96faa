"""Events: the facts the rules decided, written to the log and folded back by apply()."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

UTC = UTC
_ZERO = timedelta(0)

# Event types the service writes for its own records; apply() accepts and ignores them,
# as it does any type named `info_...`, so the service can add some without a change here.
INFORMATIONAL_EVENTS: frozenset[str] = frozenset(
    {"registration_submitted", "registration_rejected", "lot_details_updated", "checkpoint"}
)


@dataclass(frozen=True, slots=True)
class Event:
    """One fact about a lot: `data` holds JSON values only (no floats, times as strings)."""

    type: str
    at: datetime
    data: dict[str, Any]


def is_informational(event_type: str) -> bool:
    """True for the service's own record types, which the rules ignore."""
    return event_type in INFORMATIONAL_EVENTS or event_type.startswith("info_")


def format_time(moment: datetime) -> str:
    """The wire form of a time: UTC, always six fraction digits, `Z` suffix."""
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError("naive datetime: the rules only take timezone-aware times")
    if offset != _ZERO:
        moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(text: str) -> datetime:
    """Read a time written by format_time (or any ISO 8601 time with an offset) as UTC."""
    moment = datetime.fromisoformat(text)
    offset = moment.utcoffset()
    if offset is None:
        raise ValueError(f"time without a timezone: {text!r}")
    return moment if offset == _ZERO and moment.tzinfo is UTC else moment.astimezone(UTC)


def optional_time(text: str | None) -> datetime | None:
    """parse_time for fields that may be null."""
    return None if text is None else parse_time(text)


def optional_text(moment: datetime | None) -> str | None:
    """format_time for fields that may be null."""
    return None if moment is None else format_time(moment)


def require_aware(now: datetime) -> None:
    """The server clock must be timezone-aware: a naive time would silently shift deadlines."""
    if now.utcoffset() is None:
        raise ValueError("`now` must be a timezone-aware datetime")
