"""What each auction format supplies to the shared machine."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from app.auction.commands import Keep, PlaceBid, WithdrawRaise
from app.auction.errors import RuleViolation
from app.auction.events import Event
from app.auction.state import BidMark, LotState

Applier = Callable[[LotState, Event], LotState]


def no_turns(state: LotState, command: Keep | WithdrawRaise, now: datetime) -> list[Event]:
    """Keep and WithdrawRaise only mean something in sequential rounds."""
    raise RuleViolation("invalid_transition", "Only sequential rounds have turns to keep.")


@dataclass(frozen=True, slots=True)
class FormatSpec:
    """One format's rules. The machine has already checked, before `bid`, `keep` and
    `withdraw`: the amount's type, that the lot is open and not paused, that the bidder is
    qualified, that bidding has not ended and that the current deadline has not passed."""

    # Checks a sealed initial bid given with QualifyBidder (sequential needs one).
    check_initial_bid: Callable[[LotState, int | None], None]
    # The lot_opened event (the machine checked the status and min_bidders).
    open: Callable[[LotState, datetime], Event]
    bid: Callable[[LotState, PlaceBid, datetime], list[Event]]
    # The next event due at `now` (a deadline passed, or a transient phase to leave),
    # or None. Only called while the lot is open and bidding has not ended.
    advance: Callable[[LotState, datetime], Event | None]
    appliers: Mapping[str, Applier]
    keep: Callable[[LotState, Keep, datetime], list[Event]] = no_turns
    withdraw: Callable[[LotState, WithdrawRaise, datetime], list[Event]] = no_turns


def seconds(count: int) -> timedelta:
    return timedelta(seconds=count)


def earliest(moment: datetime, hard_end: datetime | None) -> datetime:
    """A deadline, cut short by the hard end if there is one."""
    return moment if hard_end is None or moment <= hard_end else hard_end


def best_of(bids: tuple[BidMark, ...]) -> BidMark | None:
    """The highest bid; on equal amounts the earlier one (lower serial) wins."""
    best: BidMark | None = None
    for mark in bids:
        if best is None or mark.amount_fen > best.amount_fen:
            best = mark
        elif mark.amount_fen == best.amount_fen and mark.serial < best.serial:
            best = mark
    return best
