"""Rules every format shares: opening, priority rights, pause, close early and cancel."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.auction import (
    Cancel,
    CloseEarly,
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
    format_time,
    next_deadline,
)

from .helpers import T0, Lot, kinds

TIMED = {"start_price_fen": 100_000, "step_fen": 1_000, "countdown_s": 300}


def test_a_priority_holder_matching_the_winning_price_wins_at_it() -> None:
    lot = Lot("timed", TIMED, ["A01", "A02", "A03"], priority=["A03"])
    lot.do(PlaceBid("A01", 100_000))
    lot.do(PlaceBid("A02", 105_000))
    events = lot.tick_at_deadline()
    assert kinds(events) == ["bidding_ended", "priority_window_opened"]
    assert events[1].data == {
        "holder": "A03",
        "price_fen": 105_000,
        "deadline": format_time(T0 + timedelta(seconds=300 + 600)),
    }
    assert (lot.s.status, lot.s.phase, lot.s.turn) == ("open", "priority", "A03")
    assert lot.reject(PlaceBid("A01", 110_000)).code == "lot_not_open"
    assert lot.reject(PriorityDecision("A01", True)).code == "not_priority_holder"
    lot.wait(60)
    assert kinds(lot.do(PriorityDecision("A03", True))) == ["priority_decided", "lot_closed"]
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["price_fen"]) == ("A03", 105_000)
    assert lot.s.result["reason"] == "priority_matched"
    assert (lot.s.leader, lot.s.current_price_fen) == ("A03", 105_000)


def test_holders_are_asked_in_order_and_the_winner_keeps_the_lot_if_none_matches() -> None:
    bidders = ["H1", "A01", "H2", "H3"]
    lot = Lot("timed", TIMED, bidders, priority=["H1", "H2", "H3"])
    lot.do(PlaceBid("H2", 100_000))
    lot.do(PlaceBid("A01", 101_000))
    lot.tick_at_deadline()
    assert lot.s.turn == "H1"
    lot.do(PriorityDecision("H1", False))
    assert lot.s.turn == "H2"
    assert lot.s.deadline == lot.now + timedelta(seconds=600)
    events = lot.tick_at_deadline()  # H2 lets the window run out
    assert kinds(events) == ["priority_window_expired", "priority_window_opened"]
    lot.wait_until_deadline()
    assert lot.reject(PriorityDecision("H3", True)).code == "deadline_passed"
    lot.tick()
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["reason"]) == ("A01", "highest_bid")


def test_a_winning_priority_holder_is_not_asked_to_match_their_own_price() -> None:
    lot = Lot("timed", TIMED, ["A01", "H1"], priority=["H1"])
    lot.do(PlaceBid("H1", 100_000))
    assert kinds(lot.tick_at_deadline()) == ["bidding_ended", "lot_closed"]


def test_pausing_moves_every_deadline_including_the_hard_end() -> None:
    hard_end = T0 + timedelta(hours=2)
    rules = TIMED | {"free_period_s": 600, "hard_end_at": format_time(hard_end)}
    lot = Lot("timed", rules, ["A01", "A02"])
    lot.wait(100)
    lot.do(Pause("Network fault at the township office"))
    assert (lot.s.status, next_deadline(lot.s)) == ("paused", None)
    lot.wait(1000)
    assert lot.do(Tick()) == []
    assert lot.reject(PlaceBid("A01", 100_000)).code == "lot_paused"
    assert lot.reject(Pause("again")).code == "invalid_transition"
    lot.do(Resume())
    assert lot.s.deadline == T0 + timedelta(seconds=600 + 1000)
    assert lot.s.hard_end_at == hard_end + timedelta(seconds=1000)
    lot.do(PlaceBid("A01", 100_000))


def test_a_paused_turn_gives_the_bidder_their_remaining_time_back() -> None:
    rules = {"start_price_fen": 100_000, "step_fen": 1_000}
    lot = Lot("sequential", rules, ["A01", "A02"], initial_bids={"A01": 100_000, "A02": 100_000})
    lot.tick_at_deadline()
    turn_end = lot.s.deadline
    assert turn_end is not None
    lot.wait(30)
    lot.do(Pause("Power cut"))
    lot.wait(3600)
    lot.do(Resume())
    assert lot.s.deadline == turn_end + timedelta(seconds=3600)
    lot.do(Keep("A02"))


def test_closing_early_ends_on_the_current_standing_and_still_offers_priority() -> None:
    lot = Lot("timed", TIMED, ["A01", "A02", "H1"], priority=["H1"])
    lot.do(PlaceBid("A01", 100_000))
    assert lot.reject(CloseEarly("")).code == "reason_required"
    events = lot.do(CloseEarly("Township order 12"))
    assert kinds(events) == ["bidding_ended", "priority_window_opened"]
    assert lot.reject(CloseEarly("again")).code == "invalid_transition"
    lot.do(PriorityDecision("H1", False))
    assert lot.s.result is not None
    assert (lot.s.result["ended_by"], lot.s.result["note"]) == ("closed_early", "Township order 12")
    assert lot.s.result["winner"] == "A01"


def test_a_paused_lot_can_be_closed_early() -> None:
    lot = Lot("sealed", {"start_price_fen": 100, "step_fen": 10}, ["A01", "A02"])
    lot.do(PlaceBid("A02", 150))
    lot.do(Pause("Fault"))
    lot.do(CloseEarly("The fault cannot be fixed today"))
    assert lot.s.result is not None
    assert (lot.s.status, lot.s.result["winner"]) == ("closed", "A02")


@pytest.mark.parametrize("status", ["draft", "registration", "open", "paused"])
def test_a_lot_can_be_cancelled_before_it_closes(status: str) -> None:
    until = "open" if status == "paused" else status
    lot = Lot("timed", TIMED, ["A01"], until=until)
    if status == "paused":
        lot.do(Pause("Fault"))
    events = lot.do(Cancel("The village committee withdrew the lease (终止)"))
    assert kinds(events) == ["lot_cancelled"]
    assert (lot.s.status, next_deadline(lot.s)) == ("cancelled", None)
    assert lot.reject(Cancel("again")).code == "invalid_transition"
    assert lot.reject(PlaceBid("A01", 100_000)).code == "lot_not_open"


def test_a_lot_opens_only_from_registration_with_enough_bidders() -> None:
    lot = Lot("timed", TIMED | {"min_bidders": 3}, ["A01", "A02"], until="registration")
    violation = lot.reject(OpenLot())
    assert violation.code == "too_few_bidders"
    assert "at least 3" in violation.message
    lot.do(QualifyBidder("A03"))
    lot.do(OpenLot())
    assert lot.reject(OpenLot()).code == "invalid_transition"
    assert lot.reject(QualifyBidder("A04")).code == "invalid_transition"


def test_drafts_take_rule_changes_and_registration_takes_bidders() -> None:
    lot = Lot("timed", TIMED, until="draft")
    assert lot.reject(QualifyBidder("A01")).code == "invalid_transition"
    lot.do(UpdateRules("sealed", {"start_price_fen": 500, "step_fen": 10}))
    assert (lot.s.format, lot.s.status) == ("sealed", "draft")
    lot.do(Publish())
    assert lot.reject(Publish()).code == "invalid_transition"
    assert lot.reject(UpdateRules("timed", TIMED)).code == "invalid_transition"
    assert lot.reject(QualifyBidder("")).code == "invalid_bidder"
    assert lot.reject(QualifyBidder("A01", initial_bid_fen=600)).code == "invalid_amount"
    lot.do(QualifyBidder("A01"))
    assert lot.reject(QualifyBidder("A01")).code == "already_qualified"
    assert lot.reject(PlaceBid("A01", 500)).code == "lot_not_open"


@pytest.mark.parametrize("amount", [0, -5, True, 100.0, 2**53 + 1, "100"])
def test_amounts_that_are_not_positive_whole_fen_are_refused(amount: object) -> None:
    lot = Lot("timed", TIMED, ["A01"])
    assert lot.reject(PlaceBid("A01", amount)).code == "invalid_amount"  # type: ignore[arg-type]


def test_strangers_and_turn_commands_outside_sequential_rounds_are_refused() -> None:
    lot = Lot("timed", TIMED, ["A01"])
    assert lot.reject(PlaceBid("Z99", 100_000)).code == "bidder_not_qualified"
    assert lot.reject(Keep("A01")).code == "invalid_transition"
    assert lot.reject(PriorityDecision("A01", True)).code == "invalid_transition"
