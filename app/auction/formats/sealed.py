"""一次性报价 and its multi-round form: one hidden bid per bidder per round; each round's
highest amount is revealed and, plus a step, becomes the next round's floor."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from app.auction.bids import fen
from app.auction.closing import bidding_ended
from app.auction.commands import PlaceBid
from app.auction.errors import RuleViolation
from app.auction.events import Event, format_time, parse_time
from app.auction.formats.base import FormatSpec, best_of, seconds
from app.auction.formats.timed import check_initial_bid
from app.auction.rules import SealedRules
from app.auction.state import OPEN, ROUND_OVER, SEALED_ROUND, BidMark, LotState, SealedBook, evolve


def _rules(state: LotState) -> SealedRules:
    assert isinstance(state.rules, SealedRules)
    return state.rules


def _book(state: LotState) -> SealedBook:
    assert isinstance(state.book, SealedBook)
    return state.book


def open_lot(state: LotState, now: datetime) -> Event:
    rules = _rules(state)
    data = {
        "phase": SEALED_ROUND,
        "round": 1,
        "deadline": format_time(now + seconds(rules.round_s)),
        "floor_fen": rules.start_price_fen,
        "active": list(state.bidders),
    }
    return Event("lot_opened", now, data)


def bid(state: LotState, command: PlaceBid, now: datetime) -> list[Event]:
    """One bid per round, at least the round's floor; nobody sees it until the round ends."""
    book = _book(state)
    if command.bidder not in book.active:
        raise RuleViolation(
            "bidder_dropped_out", "You did not bid in an earlier round, so you are out."
        )
    if any(mark.bidder == command.bidder for mark in book.bids):
        raise RuleViolation("already_bid_this_round", "You have already bid in this round.")
    if command.amount_fen < book.floor_fen:
        raise RuleViolation("bid_too_low", f"This round's bids start at {fen(book.floor_fen)}.")
    data = {"bidder": command.bidder, "amount_fen": command.amount_fen, "round": state.round}
    return [Event("bid_placed", now, data)]


def advance(state: LotState, now: datetime) -> Event | None:
    rules = _rules(state)
    book = _book(state)
    deadline = state.deadline
    assert deadline is not None
    if state.phase == ROUND_OVER:
        bidders_left = len(book.active)
        if bidders_left == 0:
            return bidding_ended("no_bids_in_round", deadline, now)
        if state.round >= rules.rounds:
            return bidding_ended("last_round", deadline, now)
        if bidders_left == 1:
            # Nobody is left to outbid the only bidder: more rounds would change nothing.
            return bidding_ended("single_bidder_left", deadline, now)
        assert state.current_price_fen is not None
        data = {
            "round": state.round + 1,
            "deadline": format_time(deadline + seconds(rules.round_s)),
            "floor_fen": state.current_price_fen + rules.step_fen,
            "active": list(book.active),
        }
        return Event("round_started", now, data)
    if now < deadline:
        return None
    best = best_of(book.bids)
    data = {
        "round": state.round,
        "highest_fen": None if best is None else best.amount_fen,
        "bids": len(book.bids),
        "ended_at": format_time(deadline),
    }
    return Event("round_ended", now, data)


def _lot_opened(s: LotState, e: Event) -> LotState:
    data = e.data
    book = SealedBook(active=tuple(data["active"]), bids=(), floor_fen=data["floor_fen"])
    return evolve(
        s,
        status=OPEN,
        phase=SEALED_ROUND,
        round=data["round"],
        deadline=parse_time(data["deadline"]),
        book=book,
    )


def _bid_placed(s: LotState, e: Event) -> LotState:
    mark = BidMark(e.data["bidder"], e.data["amount_fen"], s.serial)
    book = _book(s)
    book = replace(book, bids=(*book.bids, mark))
    if s.best_fen is None or mark.amount_fen > s.best_fen:  # equal amounts: earlier wins
        return evolve(
            s, book=book, best_fen=mark.amount_fen, best_bidder=mark.bidder, serial=s.serial + 1
        )
    return evolve(s, book=book, serial=s.serial + 1)


def _round_ended(s: LotState, e: Event) -> LotState:
    book = _book(s)
    best = best_of(book.bids)
    highest = None if best is None else best.amount_fen
    if e.data["highest_fen"] != highest:
        raise ValueError(f"round_ended reveals {e.data['highest_fen']}, the bids give {highest}")
    bid_by = {mark.bidder for mark in book.bids}
    return evolve(
        s,
        phase=ROUND_OVER,
        deadline=parse_time(e.data["ended_at"]),
        # Only the amount is revealed, never who bid it.
        current_price_fen=s.current_price_fen if highest is None else highest,
        bid_count=s.bid_count + len(book.bids),
        book=SealedBook(active=tuple(b for b in book.active if b in bid_by), floor_fen=0),
    )


def _round_started(s: LotState, e: Event) -> LotState:
    data = e.data
    book = SealedBook(active=tuple(data["active"]), bids=(), floor_fen=data["floor_fen"])
    return evolve(
        s,
        phase=SEALED_ROUND,
        round=data["round"],
        deadline=parse_time(data["deadline"]),
        book=book,
    )


SPEC = FormatSpec(
    check_initial_bid=check_initial_bid,
    open=open_lot,
    bid=bid,
    advance=advance,
    appliers={
        "lot_opened": _lot_opened,
        "bid_placed": _bid_placed,
        "round_ended": _round_ended,
        "round_started": _round_started,
    },
)
