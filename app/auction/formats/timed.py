"""网络竞价: ascending bids in a free period, then rounds that each reset a countdown."""

from __future__ import annotations

from datetime import datetime

from app.auction.bids import check_raise
from app.auction.closing import bidding_ended
from app.auction.commands import PlaceBid
from app.auction.errors import RuleViolation
from app.auction.events import Event, format_time, optional_text, optional_time, parse_time
from app.auction.formats.base import FormatSpec, earliest, seconds
from app.auction.rules import TimedRules
from app.auction.state import FREE, OPEN, TIMED, LotState, evolve


def _rules(state: LotState) -> TimedRules:
    assert isinstance(state.rules, TimedRules)
    return state.rules


def check_initial_bid(state: LotState, amount: int | None) -> None:
    if amount is not None:
        raise RuleViolation("invalid_amount", "Only sequential rounds take an initial bid.")


def open_lot(state: LotState, now: datetime) -> Event:
    """Straight into the timed period when there is no free period (连续报价)."""
    rules = _rules(state)
    hard_end = rules.hard_end_at
    if hard_end is not None and hard_end <= now:
        raise RuleViolation("invalid_rules", "The hard end has already passed.", "hard_end_at")
    if rules.free_period_s:
        phase, round, deadline = FREE, 0, now + seconds(rules.free_period_s)
    else:
        phase, round, deadline = TIMED, 1, now + seconds(rules.countdown_s)
    data = {
        "phase": phase,
        "round": round,
        "deadline": format_time(earliest(deadline, hard_end)),
        "hard_end_at": optional_text(hard_end),
    }
    return Event("lot_opened", now, data)


def bid(state: LotState, command: PlaceBid, now: datetime) -> list[Event]:
    """The first bid may equal the start price; each later one beats the last by a step."""
    rules = _rules(state)
    if command.bidder == state.leader:
        raise RuleViolation("already_leading", "You already hold the highest bid.")
    current = state.current_price_fen
    check_raise(
        command.amount_fen,
        rules.start_price_fen if current is None else current,
        step=rules.step_fen,
        may_equal_base=current is None,
        multiple_only=rules.step_multiple_only,
        max_raise=rules.max_raise_fen,
        cap=rules.cap_price_fen,
    )
    assert state.deadline is not None
    if state.phase == FREE:
        # Bids in the free period do not move its end.
        round, deadline = 0, state.deadline
    else:
        round = state.round + 1
        deadline = earliest(now + seconds(rules.countdown_s), state.hard_end_at)
    data = {
        "bidder": command.bidder,
        "amount_fen": command.amount_fen,
        "round": round,
        "deadline": format_time(deadline),
    }
    return [Event("bid_placed", now, data)]


def advance(state: LotState, now: datetime) -> Event | None:
    rules = _rules(state)
    if rules.cap_price_fen is not None and state.best_fen == rules.cap_price_fen:
        return bidding_ended("cap", now, now)
    deadline = state.deadline
    assert deadline is not None
    if now < deadline:
        return None
    hard_end = state.hard_end_at
    if hard_end is not None and deadline >= hard_end:
        return bidding_ended("hard_end", deadline, now)
    if state.phase == FREE:
        # The timed period starts when the free period was due to end, not when the
        # scheduler noticed, so a late scheduler gives no one extra time.
        timed_end = earliest(deadline + seconds(rules.countdown_s), hard_end)
        return Event("timed_period_started", now, {"round": 1, "deadline": format_time(timed_end)})
    return bidding_ended("countdown", deadline, now)


def _lot_opened(s: LotState, e: Event) -> LotState:
    data = e.data
    return evolve(
        s,
        status=OPEN,
        phase=data["phase"],
        round=data["round"],
        deadline=parse_time(data["deadline"]),
        hard_end_at=optional_time(data["hard_end_at"]),
    )


def _bid_placed(s: LotState, e: Event) -> LotState:
    data = e.data
    amount = data["amount_fen"]
    bidder = data["bidder"]
    return evolve(
        s,
        current_price_fen=amount,
        leader=bidder,
        best_fen=amount,
        best_bidder=bidder,
        round=data["round"],
        deadline=parse_time(data["deadline"]),
        bid_count=s.bid_count + 1,
        serial=s.serial + 1,
    )


def _timed_period_started(s: LotState, e: Event) -> LotState:
    return evolve(s, phase=TIMED, round=e.data["round"], deadline=parse_time(e.data["deadline"]))


SPEC = FormatSpec(
    check_initial_bid=check_initial_bid,
    open=open_lot,
    bid=bid,
    advance=advance,
    appliers={
        "lot_opened": _lot_opened,
        "bid_placed": _bid_placed,
        "timed_period_started": _timed_period_started,
    },
)
