"""decide, apply, replay and next_deadline: the entry points the service and verifier use."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from app.auction import closing, lifecycle
from app.auction.bids import check_amount
from app.auction.commands import (
    Cancel,
    CloseEarly,
    Command,
    CreateLot,
    Keep,
    OpenLot,
    Pause,
    PlaceBid,
    PriorityDecision,
    Publish,
    QualifyBidder,
    Resume,
    Tick,
    UpdateRules,
    WithdrawRaise,
)
from app.auction.errors import RuleViolation
from app.auction.events import Event, is_informational, require_aware
from app.auction.formats import SPECS, Applier, FormatSpec
from app.auction.state import ENDED, OPEN, PAUSED, PRIORITY, LotState

# A lot's whole life has a few thousand events; a loop this long is a bug, not a backlog.
_MAX_FOLLOW_UPS = 1_000_000

# Format appliers override the shared ones of the same type (sequential's bidder_qualified).
_APPLIERS: dict[str, dict[str, Applier]] = {
    name: {**lifecycle.APPLIERS, **closing.APPLIERS, **spec.appliers}
    for name, spec in SPECS.items()
}


def decide(state: LotState | None, command: Command, now: datetime) -> list[Event]:
    """The events `command` causes at `now`, followed by whatever else falls due at `now`.
    Raises RuleViolation, never changes `state`; every event carries `at=now`."""
    require_aware(now)
    if isinstance(command, CreateLot):
        return lifecycle.create(state, command, now)
    if state is None:
        raise RuleViolation("invalid_transition", "The lot does not exist; create it first.")
    spec = SPECS[state.format]
    return _settle(state, spec, _decide_command(state, spec, command, now), now)


def apply(state: LotState | None, event: Event) -> LotState:
    """Fold one event into the state. Raises ValueError on an event it cannot take."""
    if state is None:
        if event.type == "lot_created":
            return lifecycle.apply_created(event)
        raise ValueError(f"a lot's log starts with lot_created, not {event.type!r}")
    applier = _APPLIERS[state.format].get(event.type)
    if applier is None:
        if is_informational(event.type):
            return state
        raise ValueError(f"unknown event type {event.type!r} for a {state.format} lot")
    return applier(state, event)


def replay(events: Iterable[Event]) -> LotState:
    """The state a lot's events lead to, from nothing. This is what an auditor re-runs."""
    state: LotState | None = None
    for event in events:
        state = apply(state, event)
    if state is None:
        raise ValueError("no events to replay")
    return state


def next_deadline(state: LotState | None) -> datetime | None:
    """When a Tick would next produce events; None when nothing is pending or paused."""
    if state is None or state.status != OPEN:
        return None
    return state.deadline


def _decide_command(
    state: LotState, spec: FormatSpec, command: Command, now: datetime
) -> list[Event]:
    match command:
        case PlaceBid():
            check_amount(command.amount_fen)
            _check_can_act(state, command.bidder, now)
            return spec.bid(state, command, now)
        case Keep():
            _check_can_act(state, command.bidder, now)
            return spec.keep(state, command, now)
        case WithdrawRaise():
            _check_can_act(state, command.bidder, now)
            return spec.withdraw(state, command, now)
        case Tick():
            return []
        case QualifyBidder():
            event = lifecycle.qualify(state, command, now)
            spec.check_initial_bid(state, command.initial_bid_fen)
            return [event]
        case OpenLot():
            lifecycle.check_can_open(state)
            return [spec.open(state, now)]
        case PriorityDecision():
            return closing.decide_priority(state, command, now)
        case CloseEarly():
            return closing.close_early(state, command, now)
        case Pause():
            return lifecycle.pause(state, command, now)
        case Resume():
            return lifecycle.resume(state, command, now)
        case Cancel():
            return lifecycle.cancel(state, command, now)
        case Publish():
            return lifecycle.publish(state, now)
        case UpdateRules():
            return lifecycle.update_rules(state, command, now)
    raise TypeError(f"not an auction command: {command!r}")


def _check_can_act(state: LotState, bidder: str, now: datetime) -> None:
    """What every bidding action needs, in the order a bidder would want to be told."""
    if state.status == PAUSED:
        raise RuleViolation("lot_paused", "The lot is paused (中止); wait for it to resume.")
    if state.status != OPEN:
        raise RuleViolation("lot_not_open", f"The lot is {state.status}, not open for bids.")
    if bidder not in state.bidders:
        raise RuleViolation("bidder_not_qualified", f"{bidder!r} is not a bidder of this lot.")
    if state.phase in (ENDED, PRIORITY):
        raise RuleViolation("lot_not_open", "Bidding has ended.")
    # A bid at or after the deadline loses even if the scheduler has not ticked yet.
    if state.deadline is not None and now >= state.deadline:
        raise RuleViolation("deadline_passed", "The deadline has passed.")


def _settle(state: LotState, spec: FormatSpec, events: list[Event], now: datetime) -> list[Event]:
    """Apply the command's events, then add what falls due at `now`: a turn kept means the
    next one starts, a countdown run out ends bidding, and so on (this is all Tick does)."""
    for event in events:
        state = apply(state, event)
    events = list(events)
    for _ in range(_MAX_FOLLOW_UPS):
        if state.status != OPEN:
            return events
        if state.phase in (ENDED, PRIORITY):
            follow_up = closing.advance(state, now)
        else:
            follow_up = spec.advance(state, now)
        if follow_up is None:
            return events
        events.append(follow_up)
        state = apply(state, follow_up)
    raise RuntimeError("the rules kept producing events; this is a bug")
