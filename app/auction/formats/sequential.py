"""Sequential rounds as in Prozorro's open auctions: one turn per bidder per round,
lowest bid first, after sealed initial bids. docs/rules.md says what we followed."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.auction.bids import check_amount, check_raise
from app.auction.closing import bidding_ended
from app.auction.commands import Keep, PlaceBid, WithdrawRaise
from app.auction.errors import RuleViolation
from app.auction.events import Event, format_time, parse_time
from app.auction.formats.base import FormatSpec, best_of, seconds
from app.auction.lifecycle import apply_qualified
from app.auction.rules import SequentialRules
from app.auction.state import (
    FIRST_PAUSE,
    OPEN,
    ROUND_PAUSE,
    TURN,
    TURN_OVER,
    BidMark,
    LotState,
    SequentialBook,
    evolve,
)


def _rules(state: LotState) -> SequentialRules:
    assert isinstance(state.rules, SequentialRules)
    return state.rules


def _book(state: LotState) -> SequentialBook:
    assert isinstance(state.book, SequentialBook)
    return state.book


def turn_order(bids: tuple[BidMark, ...]) -> tuple[str, ...]:
    """Lowest bid first; on equal bids the later bid goes first (Prozorro's
    sorting_by_amount), so the bidder who would win a tie moves last."""
    ranked = sorted(bids, key=lambda mark: (mark.amount_fen, -mark.serial))
    return tuple(mark.bidder for mark in ranked)


def check_initial_bid(state: LotState, amount: int | None) -> None:
    """The sealed initial bid: at least the start price, on the step grid if required."""
    rules = _rules(state)
    if amount is None:
        raise RuleViolation("initial_bid_required", "Sequential rounds need an initial bid.")
    check_amount(amount, "The initial bid")
    check_raise(
        amount,
        rules.start_price_fen,
        step=rules.step_fen,
        may_equal_base=True,
        multiple_only=rules.step_multiple_only,
        max_raise=None,  # a sealed bid is not a raise over anyone
    )


def open_lot(state: LotState, now: datetime) -> Event:
    """The initial bids are revealed (under bidder numbers) when the first pause starts."""
    deadline = now + seconds(_rules(state).first_pause_s)
    initial = [{"bidder": m.bidder, "amount_fen": m.amount_fen} for m in _book(state).bids]
    data = {"phase": FIRST_PAUSE, "deadline": format_time(deadline), "initial_bids": initial}
    return Event("lot_opened", now, data)


def _check_turn(state: LotState, bidder: str) -> SequentialBook:
    if state.phase != TURN:
        raise RuleViolation("not_your_turn", "No turn is running now; wait for the next round.")
    if bidder != state.turn:
        raise RuleViolation("not_your_turn", f"It is bidder {state.turn}'s turn.")
    return _book(state)


def bid(state: LotState, command: PlaceBid, now: datetime) -> list[Event]:
    """A raise in one's turn, measured from the leading bid or from one's own bid."""
    rules = _rules(state)
    book = _check_turn(state, command.bidder)
    before = book.before_turn
    assert before is not None
    base = before.amount_fen
    if rules.raise_over == "leader":
        # Only the turn's bidder can move a bid, so the others' bids are as at turn start.
        others = [m.amount_fen for m in book.bids if m.bidder != command.bidder]
        base = max([base, *others])
    check_raise(
        command.amount_fen,
        base,
        step=rules.step_fen,
        may_equal_base=False,
        multiple_only=rules.step_multiple_only,
        max_raise=rules.max_raise_fen,
    )
    data = {"bidder": command.bidder, "amount_fen": command.amount_fen, "round": state.round}
    return [Event("bid_placed", now, data)]


def keep(state: LotState, command: Keep, now: datetime) -> list[Event]:
    """Keeping ends the turn now; the next turn starts at once."""
    _check_turn(state, command.bidder)
    return [_end_turn(state, "keep", now, now)]


def withdraw(state: LotState, command: WithdrawRaise, now: datetime) -> list[Event]:
    """Prozorro's bid of -1: take back this turn's raise, keeping the bid from before."""
    book = _check_turn(state, command.bidder)
    if not book.raised or book.before_turn is None:
        raise RuleViolation("nothing_to_withdraw", "You have not raised in this turn.")
    data = {
        "bidder": command.bidder,
        "round": state.round,
        "amount_fen": book.before_turn.amount_fen,
    }
    return [Event("raise_withdrawn", now, data)]


def _end_turn(state: LotState, by: str, ended_at: datetime, now: datetime) -> Event:
    data = {"bidder": state.turn, "round": state.round, "by": by, "ended_at": format_time(ended_at)}
    return Event("turn_ended", now, data)


def advance(state: LotState, now: datetime) -> Event | None:
    """Turns and rounds follow a fixed schedule: each starts when the one before was due
    to end (or was kept), never when the scheduler happened to run."""
    rules = _rules(state)
    book = _book(state)
    deadline = state.deadline
    assert deadline is not None
    if state.phase == TURN_OVER:
        if book.turn_index + 1 < len(book.order):
            data = {
                "round": state.round,
                "bidder": book.order[book.turn_index + 1],
                "deadline": format_time(deadline + seconds(rules.turn_s)),
            }
            return Event("turn_started", now, data)
        last = state.round >= rules.rounds
        pause_end = deadline if last else deadline + seconds(rules.pause_s)
        return Event("round_ended", now, {"round": state.round, "deadline": format_time(pause_end)})
    if now < deadline:
        return None
    if state.phase == TURN:
        return _end_turn(state, "timeout", deadline, now)
    if state.round >= rules.rounds:
        return bidding_ended("last_round", deadline, now)
    data = {
        "round": state.round + 1,
        "order": list(turn_order(book.bids)),
        "started_at": format_time(deadline),
    }
    return Event("round_started", now, data)


def _bidder_qualified(s: LotState, e: Event) -> LotState:
    s = apply_qualified(s, e)
    mark = BidMark(e.data["bidder"], e.data["initial_bid_fen"], s.serial)
    book = replace(_book(s), bids=(*_book(s).bids, mark))
    best = best_of(book.bids)
    assert best is not None
    return evolve(
        s, book=book, best_fen=best.amount_fen, best_bidder=best.bidder, serial=s.serial + 1
    )


def _lot_opened(s: LotState, e: Event) -> LotState:
    return evolve(
        s,
        status=OPEN,
        phase=FIRST_PAUSE,
        deadline=parse_time(e.data["deadline"]),
        current_price_fen=s.best_fen,
        leader=s.best_bidder,
    )


def _round_started(s: LotState, e: Event) -> LotState:
    book = replace(_book(s), order=tuple(e.data["order"]), turn_index=-1)
    deadline = parse_time(e.data["started_at"])
    return evolve(s, phase=TURN_OVER, round=e.data["round"], book=book, deadline=deadline)


def _turn_started(s: LotState, e: Event) -> LotState:
    bidder = e.data["bidder"]
    book = _book(s)
    before = next(m for m in book.bids if m.bidder == bidder)
    book = replace(book, turn_index=book.turn_index + 1, before_turn=before, raised=False)
    return evolve(s, phase=TURN, turn=bidder, book=book, deadline=parse_time(e.data["deadline"]))


def _set_bid(s: LotState, mark: BidMark, raised: bool) -> tuple[SequentialBook, BidMark]:
    book = _book(s)
    bids = tuple(mark if m.bidder == mark.bidder else m for m in book.bids)
    best = best_of(bids)
    assert best is not None
    return replace(book, bids=bids, raised=raised), best


def _bid_placed(s: LotState, e: Event) -> LotState:
    mark = BidMark(e.data["bidder"], e.data["amount_fen"], s.serial)
    book, best = _set_bid(s, mark, raised=True)
    return evolve(
        s,
        book=book,
        best_fen=best.amount_fen,
        best_bidder=best.bidder,
        current_price_fen=best.amount_fen,
        leader=best.bidder,
        bid_count=s.bid_count + 1,
        serial=s.serial + 1,
    )


def _raise_withdrawn(s: LotState, e: Event) -> LotState:
    before = _book(s).before_turn
    assert before is not None
    if before.amount_fen != e.data["amount_fen"]:
        raise ValueError(f"raise_withdrawn reverts to {e.data['amount_fen']}, not {before}")
    book, best = _set_bid(s, before, raised=False)
    return evolve(
        s,
        book=book,
        best_fen=best.amount_fen,
        best_bidder=best.bidder,
        current_price_fen=best.amount_fen,
        leader=best.bidder,
    )


def _turn_ended(s: LotState, e: Event) -> LotState:
    book = replace(_book(s), before_turn=None, raised=False)
    return evolve(s, phase=TURN_OVER, turn=None, book=book, deadline=parse_time(e.data["ended_at"]))


def _round_ended(s: LotState, e: Event) -> LotState:
    return evolve(s, phase=ROUND_PAUSE, deadline=parse_time(e.data["deadline"]))


SPEC = FormatSpec(
    check_initial_bid=check_initial_bid,
    open=open_lot,
    bid=bid,
    advance=advance,
    keep=keep,
    withdraw=withdraw,
    appliers={
        "bidder_qualified": _bidder_qualified,
        "lot_opened": _lot_opened,
        "round_started": _round_started,
        "turn_started": _turn_started,
        "bid_placed": _bid_placed,
        "raise_withdrawn": _raise_withdrawn,
        "turn_ended": _turn_ended,
        "round_ended": _round_ended,
    },
)
