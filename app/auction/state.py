"""The state of one lot, folded from its events; immutable so earlier states stay valid."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypedDict, Unpack

from app.auction.rules import Rules

# Lot statuses, as in the public API.
DRAFT = "draft"
REGISTRATION = "registration"
OPEN = "open"
PAUSED = "paused"
CLOSED = "closed"
CANCELLED = "cancelled"

# Phases of an open (or paused) lot; docs/rules.md describes each.
NO_PHASE = "none"  # not open yet, or over
FREE = "free"  # timed: the free period (自由报价期)
TIMED = "timed"  # timed: the timed period (限时报价期), one countdown per round
FIRST_PAUSE = "first_pause"  # sequential: initial bids revealed, round 1 not started
TURN = "turn"  # sequential: one bidder's turn
TURN_OVER = "turn_over"  # sequential, transient: a turn ended, the next not yet started
ROUND_PAUSE = "round_pause"  # sequential: the pause between rounds
SEALED_ROUND = "sealed_round"  # sealed: a round of hidden bids
ROUND_OVER = "round_over"  # sealed, transient: a round ended, the next not yet started
ENDED = "ended"  # transient: bidding is over, priority windows or closing follow
PRIORITY = "priority"  # a priority holder's window (优先权)


@dataclass(frozen=True, slots=True)
class BidMark:
    """A standing bid: `serial` orders bids within the lot (earlier bids win ties)."""

    bidder: str
    amount_fen: int
    serial: int


@dataclass(frozen=True, slots=True)
class SequentialBook:
    """Sequential rounds: every bidder's standing bid and the round's turn order."""

    bids: tuple[BidMark, ...] = ()  # one per bidder, in qualification order
    order: tuple[str, ...] = ()  # this round's turns, fixed when the round starts
    turn_index: int = -1
    before_turn: BidMark | None = None  # the turn bidder's bid when the turn began
    raised: bool = False  # a raise stands in the current turn


@dataclass(frozen=True, slots=True)
class SealedBook:
    """Sealed rounds: who may still bid, this round's hidden bids and its floor."""

    active: tuple[str, ...] = ()
    bids: tuple[BidMark, ...] = ()
    floor_fen: int = 0


@dataclass(frozen=True, slots=True)
class Result:
    """How a lot ended; `result` dicts are built from it."""

    outcome: str  # "sold" or "unsold" (流拍)
    winner: str | None
    price_fen: int | None
    reason: str  # sold: highest_bid | priority_matched; unsold: no_bids | below_reserve
    rounds: int
    ended_by: str  # countdown | hard_end | cap | last_round | no_bids_in_round | ...
    note: str | None = None  # the official's reason when closed early

    def to_dict(self) -> dict[str, Any]:
        return {
            "outcome": self.outcome,
            "winner": self.winner,
            "price_fen": self.price_fen,
            "reason": self.reason,
            "rounds": self.rounds,
            "ended_by": self.ended_by,
            "note": self.note,
        }


@dataclass(frozen=True, slots=True)
class Pending:
    """Bidding is over: the provisional result and the priority holders still to ask."""

    result: Result
    holders_left: tuple[str, ...]


Book = SequentialBook | SealedBook | None


@dataclass(frozen=True)
class LotState:
    """Everything the rules know about a lot. Public fields never leak sealed secrets;
    `best_bidder`/`best_fen` (the true standing) and `book` are for the rules only.

    Frozen; no __slots__ on purpose, so that evolve() can copy the instance dict."""

    format: str
    rules: Rules
    status: str = DRAFT
    phase: str = NO_PHASE
    bidders: tuple[str, ...] = ()  # qualified bidder numbers, in qualification order
    priority_holders: tuple[str, ...] = ()
    current_price_fen: int | None = None  # public: in sealed formats only what was revealed
    leader: str | None = None  # public: None while the leader is secret
    best_bidder: str | None = None
    best_fen: int | None = None
    round: int = 0
    turn: str | None = None  # sequential turn, or the priority holder whose window is open
    deadline: datetime | None = None  # the end of the current window shown to watchers
    hard_end_at: datetime | None = None  # timed: the hard end, moved by pauses
    paused_at: datetime | None = None
    bid_count: int = 0  # bids made public so far
    serial: int = 0  # bids accepted so far, public or not
    book: Book = None
    pending: Pending | None = None
    final: Result | None = None

    @property
    def result(self) -> dict[str, Any] | None:
        """The closed lot's result as a JSON dict, else None."""
        return None if self.final is None else self.final.to_dict()


class Changes(TypedDict, total=False):
    """The fields evolve() may change (all but `format`)."""

    rules: Rules
    status: str
    phase: str
    bidders: tuple[str, ...]
    priority_holders: tuple[str, ...]
    current_price_fen: int | None
    leader: str | None
    best_bidder: str | None
    best_fen: int | None
    round: int
    turn: str | None
    deadline: datetime | None
    hard_end_at: datetime | None
    paused_at: datetime | None
    bid_count: int
    serial: int
    book: Book
    pending: Pending | None
    final: Result | None


_new = object.__new__
_set = object.__setattr__


def evolve(state: LotState, **changes: Unpack[Changes]) -> LotState:
    """A copy of `state` with some fields changed. Like dataclasses.replace, but it copies
    the instance dict instead of running the frozen __init__: replay builds one state per
    event, and this is what keeps it above 200,000 events a second."""
    copy = _new(LotState)
    _set(copy, "__dict__", {**state.__dict__, **changes})
    return copy
