"""Commands: what officials, bidders and the scheduler ask of a lot."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class CreateLot:
    """Start a lot in `draft` with a format and its rule parameters."""

    format: str
    rules: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class UpdateRules:
    """Replace the format and rules of a draft lot."""

    format: str
    rules: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Publish:
    """Open registration (draft -> registration)."""


@dataclass(frozen=True, slots=True)
class QualifyBidder:
    """Admit an approved bidder under their anonymous number (竞买号), e.g. "A07"."""

    bidder: str
    priority: bool = False
    initial_bid_fen: int | None = None


@dataclass(frozen=True, slots=True)
class OpenLot:
    """Start bidding (registration -> open)."""


@dataclass(frozen=True, slots=True)
class PlaceBid:
    """A bid, a raise in one's sequential turn, or a sealed bid."""

    bidder: str
    amount_fen: int


@dataclass(frozen=True, slots=True)
class Keep:
    """Sequential rounds: end one's turn now, keeping one's bid."""

    bidder: str


@dataclass(frozen=True, slots=True)
class WithdrawRaise:
    """Sequential rounds: take back this turn's raise; the bid reverts to before the turn."""

    bidder: str


@dataclass(frozen=True, slots=True)
class Tick:
    """The scheduler's call: emit every deadline-driven event due at `now`."""


@dataclass(frozen=True, slots=True)
class Pause:
    """Suspend the lot (中止), e.g. for a technical fault."""

    reason: str


@dataclass(frozen=True, slots=True)
class Resume:
    """Resume a paused lot; every deadline moves by the paused time."""


@dataclass(frozen=True, slots=True)
class CloseEarly:
    """End bidding now on the current standing."""

    reason: str


@dataclass(frozen=True, slots=True)
class Cancel:
    """Terminate the lot without a result (终止)."""

    reason: str


@dataclass(frozen=True, slots=True)
class PriorityDecision:
    """A priority holder (优先权) matches the final price or declines it."""

    bidder: str
    match: bool


Command = (
    CreateLot
    | UpdateRules
    | Publish
    | QualifyBidder
    | OpenLot
    | PlaceBid
    | Keep
    | WithdrawRaise
    | Tick
    | Pause
    | Resume
    | CloseEarly
    | Cancel
    | PriorityDecision
)
