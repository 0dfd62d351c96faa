"""Draft, registration, pause and cancel: the parts of a lot's life shared by all formats."""

from __future__ import annotations

from datetime import datetime

from app.auction.closing import check_reason
from app.auction.commands import Cancel, CreateLot, Pause, QualifyBidder, Resume, UpdateRules
from app.auction.errors import RuleViolation
from app.auction.events import Event, optional_text, optional_time
from app.auction.rules import parse_rules, rules_to_dict
from app.auction.state import (
    CANCELLED,
    CLOSED,
    DRAFT,
    NO_PHASE,
    OPEN,
    PAUSED,
    REGISTRATION,
    Book,
    LotState,
    SealedBook,
    SequentialBook,
    evolve,
)

MAX_BIDDER_NUMBER = 32


def create(state: LotState | None, command: CreateLot, now: datetime) -> list[Event]:
    if state is not None:
        raise RuleViolation("invalid_transition", "The lot already exists.")
    rules = parse_rules(command.format, command.rules)
    data = {"format": command.format, "rules": rules_to_dict(rules)}
    return [Event("lot_created", now, data)]


def update_rules(state: LotState, command: UpdateRules, now: datetime) -> list[Event]:
    if state.status != DRAFT:
        raise RuleViolation("invalid_transition", "Rules can only change while the lot is a draft.")
    rules = parse_rules(command.format, command.rules)
    return [Event("rules_updated", now, {"format": command.format, "rules": rules_to_dict(rules)})]


def publish(state: LotState, now: datetime) -> list[Event]:
    if state.status != DRAFT:
        raise RuleViolation("invalid_transition", "Only a draft lot can be published.")
    return [Event("lot_published", now, {})]


def qualify(state: LotState, command: QualifyBidder, now: datetime) -> Event:
    """Check what every format checks; the format then checks the initial bid."""
    if state.status != REGISTRATION:
        raise RuleViolation("invalid_transition", "Bidders are qualified during registration.")
    bidder = command.bidder
    if not isinstance(bidder, str) or not 0 < len(bidder) <= MAX_BIDDER_NUMBER:
        raise RuleViolation("invalid_bidder", "A bidder number is 1 to 32 characters.")
    if bidder in state.bidders:
        raise RuleViolation("already_qualified", f"Bidder {bidder} is already qualified.")
    if type(command.priority) is not bool:
        raise RuleViolation("invalid_bidder", "`priority` must be true or false.")
    data = {
        "bidder": bidder,
        "priority": command.priority,
        "initial_bid_fen": command.initial_bid_fen,
    }
    return Event("bidder_qualified", now, data)


def check_can_open(state: LotState) -> None:
    if state.status != REGISTRATION:
        raise RuleViolation("invalid_transition", "Only a lot in registration can open.")
    needed = state.rules.min_bidders
    if len(state.bidders) < needed:
        raise RuleViolation(
            "too_few_bidders",
            f"{len(state.bidders)} bidder(s) qualified; this lot needs at least {needed}.",
        )


def pause(state: LotState, command: Pause, now: datetime) -> list[Event]:
    if state.status != OPEN:
        raise RuleViolation("invalid_transition", "Only an open lot can be paused.")
    return [Event("lot_paused", now, {"reason": check_reason(command.reason)})]


def resume(state: LotState, command: Resume, now: datetime) -> list[Event]:
    """Every deadline, the hard end included, moves by the time the lot was paused."""
    if state.status != PAUSED or state.paused_at is None:
        raise RuleViolation("invalid_transition", "Only a paused lot can resume.")
    paused_for = now - state.paused_at
    deadline = None if state.deadline is None else state.deadline + paused_for
    hard_end = None if state.hard_end_at is None else state.hard_end_at + paused_for
    data = {"deadline": optional_text(deadline), "hard_end_at": optional_text(hard_end)}
    return [Event("lot_resumed", now, data)]


def cancel(state: LotState, command: Cancel, now: datetime) -> list[Event]:
    if state.status in (CLOSED, CANCELLED):
        raise RuleViolation("invalid_transition", f"The lot is already {state.status}.")
    return [Event("lot_cancelled", now, {"reason": check_reason(command.reason)})]


def _empty_book(format: str) -> Book:
    if format == "sequential":
        return SequentialBook()
    return SealedBook() if format == "sealed" else None


def apply_created(e: Event) -> LotState:
    format = e.data["format"]
    return LotState(format, parse_rules(format, e.data["rules"]), book=_empty_book(format))


def _rules_updated(s: LotState, e: Event) -> LotState:
    return apply_created(e)


def _lot_published(s: LotState, e: Event) -> LotState:
    return evolve(s, status=REGISTRATION)


def apply_qualified(s: LotState, e: Event) -> LotState:
    bidder = e.data["bidder"]
    holders = (*s.priority_holders, bidder) if e.data["priority"] else s.priority_holders
    return evolve(s, bidders=(*s.bidders, bidder), priority_holders=holders)


def _lot_paused(s: LotState, e: Event) -> LotState:
    return evolve(s, status=PAUSED, paused_at=e.at)


def _lot_resumed(s: LotState, e: Event) -> LotState:
    return evolve(
        s,
        status=OPEN,
        paused_at=None,
        deadline=optional_time(e.data["deadline"]),
        hard_end_at=optional_time(e.data["hard_end_at"]),
    )


def _lot_cancelled(s: LotState, e: Event) -> LotState:
    return evolve(
        s, status=CANCELLED, phase=NO_PHASE, turn=None, deadline=None, paused_at=None, pending=None
    )


APPLIERS = {
    "rules_updated": _rules_updated,
    "lot_published": _lot_published,
    "bidder_qualified": apply_qualified,
    "lot_paused": _lot_paused,
    "lot_resumed": _lot_resumed,
    "lot_cancelled": _lot_cancelled,
}
