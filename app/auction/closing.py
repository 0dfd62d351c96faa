"""The end of bidding: the provisional result, priority windows (优先权) and lot_closed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from app.auction.commands import CloseEarly, PriorityDecision
from app.auction.errors import RuleViolation
from app.auction.events import Event, format_time, parse_time
from app.auction.state import (
    CLOSED,
    ENDED,
    NO_PHASE,
    OPEN,
    PAUSED,
    PRIORITY,
    LotState,
    Pending,
    Result,
    evolve,
)

MAX_REASON = 500


def check_reason(reason: object) -> str:
    """Officials must say why they pause, close early or cancel; the log keeps it."""
    if not isinstance(reason, str) or not reason.strip() or len(reason) > MAX_REASON:
        raise RuleViolation("reason_required", "Give a reason of 1 to 500 characters.")
    return reason


def bidding_ended(
    ended_by: str, ended_at: datetime, now: datetime, note: str | None = None
) -> Event:
    """The event that stops bidding; `ended_at` is when the window really ended."""
    return Event(
        "bidding_ended",
        now,
        {"ended_by": ended_by, "ended_at": format_time(ended_at), "note": note},
    )


def close_early(state: LotState, command: CloseEarly, now: datetime) -> list[Event]:
    """An official ends bidding on the current standing. Priority windows still follow:
    the right of first refusal is the holder's by law, not the official's to waive."""
    if state.status not in (OPEN, PAUSED):
        raise RuleViolation("invalid_transition", "Only an open or paused lot can close early.")
    if state.phase in (ENDED, PRIORITY):
        raise RuleViolation(
            "invalid_transition", "Bidding has already ended; priority windows are running."
        )
    return [bidding_ended("closed_early", now, now, check_reason(command.reason))]


def decide_priority(state: LotState, command: PriorityDecision, now: datetime) -> list[Event]:
    """A holder matches the final price (and wins at it) or declines."""
    if state.status == PAUSED:
        raise RuleViolation("lot_paused", "The lot is paused; decisions wait for it to resume.")
    if state.status != OPEN or state.phase != PRIORITY:
        raise RuleViolation("invalid_transition", "No priority window is open.")
    if command.bidder != state.turn:
        raise RuleViolation("not_priority_holder", "The open priority window is not yours.")
    assert state.deadline is not None
    if now >= state.deadline:
        raise RuleViolation("deadline_passed", "The priority window has ended.")
    if type(command.match) is not bool:
        raise RuleViolation("invalid_transition", "A priority decision is match or decline.")
    return [Event("priority_decided", now, {"holder": command.bidder, "match": command.match})]


def advance(state: LotState, now: datetime) -> Event | None:
    """After bidding: open the next priority window, expire a due one, or close the lot."""
    pending = state.pending
    assert pending is not None
    assert state.deadline is not None
    if state.phase == ENDED:
        if pending.holders_left:
            window = timedelta(seconds=state.rules.priority_window_s)
            return Event(
                "priority_window_opened",
                now,
                {
                    "holder": pending.holders_left[0],
                    "price_fen": pending.result.price_fen,
                    "deadline": format_time(state.deadline + window),
                },
            )
        return Event("lot_closed", now, {"result": pending.result.to_dict()})
    if now >= state.deadline:
        return Event(
            "priority_window_expired",
            now,
            {"holder": state.turn, "ended_at": format_time(state.deadline)},
        )
    return None


def provisional_result(state: LotState, ended_by: str, note: str | None) -> Result:
    """Highest bid at or above the reserve (保留价): sold; otherwise unsold (流拍)."""
    best = state.best_fen
    reserve = state.rules.reserve_price_fen
    if best is None:
        return Result("unsold", None, None, "no_bids", state.round, ended_by, note)
    if reserve is not None and best < reserve:
        return Result("unsold", None, None, "below_reserve", state.round, ended_by, note)
    return Result("sold", state.best_bidder, best, "highest_bid", state.round, ended_by, note)


def _bidding_ended(s: LotState, e: Event) -> LotState:
    data = e.data
    result = provisional_result(s, data["ended_by"], data["note"])
    sold = result.outcome == "sold"
    holders = tuple(h for h in s.priority_holders if h != result.winner) if sold else ()
    return evolve(
        s,
        status=OPEN,
        paused_at=None,
        phase=ENDED,
        turn=None,
        deadline=parse_time(data["ended_at"]),
        pending=Pending(result, holders),
        # Holders must see the price they may match, even in sealed formats.
        current_price_fen=result.price_fen if sold else s.current_price_fen,
    )


def _priority_window_opened(s: LotState, e: Event) -> LotState:
    return evolve(s, phase=PRIORITY, turn=e.data["holder"], deadline=parse_time(e.data["deadline"]))


def _priority_window_expired(s: LotState, e: Event) -> LotState:
    assert s.pending is not None
    pending = Pending(s.pending.result, s.pending.holders_left[1:])
    return evolve(
        s, phase=ENDED, turn=None, pending=pending, deadline=parse_time(e.data["ended_at"])
    )


def _priority_decided(s: LotState, e: Event) -> LotState:
    assert s.pending is not None
    result = s.pending.result
    if e.data["match"]:
        matched = replace(result, winner=e.data["holder"], reason="priority_matched")
        pending = Pending(matched, ())
    else:
        pending = Pending(result, s.pending.holders_left[1:])
    return evolve(s, phase=ENDED, turn=None, pending=pending, deadline=e.at)


def _lot_closed(s: LotState, e: Event) -> LotState:
    assert s.pending is not None
    result = s.pending.result
    # The log states the result; replay recomputes it, so a tampered result is caught here.
    if e.data["result"] != result.to_dict():
        raise ValueError(f"lot_closed says {e.data['result']!r}, the events give {result!r}")
    sold = result.outcome == "sold"
    return evolve(
        s,
        status=CLOSED,
        phase=NO_PHASE,
        turn=None,
        deadline=None,
        pending=None,
        final=result,
        leader=result.winner if sold else s.leader,
        current_price_fen=result.price_fen if sold else s.current_price_fen,
    )


APPLIERS = {
    "bidding_ended": _bidding_ended,
    "priority_window_opened": _priority_window_opened,
    "priority_window_expired": _priority_window_expired,
    "priority_decided": _priority_decided,
    "lot_closed": _lot_closed,
}
