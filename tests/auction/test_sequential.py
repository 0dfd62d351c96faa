"""Worked scenarios of sequential rounds (Prozorro's open auctions)."""

from __future__ import annotations

from datetime import timedelta

from app.auction import Keep, OpenLot, PlaceBid, QualifyBidder, WithdrawRaise

from .helpers import T0, Lot, kinds

RULES = {"start_price_fen": 100_000, "step_fen": 1_000, "rounds": 3}
FOUR = ["A01", "A02", "A03", "A04"]
INITIAL = {"A01": 100_000, "A02": 105_000, "A03": 100_000, "A04": 110_000}


def round_orders(lot: Lot) -> list[list[str]]:
    return [event.data["order"] for event in lot.events if event.type == "round_started"]


def test_a_four_bidder_auction_re_sorts_its_turn_order_after_each_round() -> None:
    lot = Lot("sequential", RULES, FOUR, initial_bids=INITIAL)
    # The sealed initial bids are revealed when the lot opens, under bidder numbers.
    assert (lot.s.phase, lot.s.current_price_fen, lot.s.leader) == ("first_pause", 110_000, "A04")
    assert lot.s.deadline == T0 + timedelta(seconds=300)

    lot.tick_at_deadline()
    # Lowest first; A01 and A03 bid the same, and A03 bid later, so A03 goes first.
    assert round_orders(lot) == [["A03", "A01", "A02", "A04"]]
    assert (lot.s.round, lot.s.turn) == (1, "A03")
    assert lot.s.deadline == T0 + timedelta(seconds=300 + 120)
    assert lot.reject(PlaceBid("A01", 120_000)).code == "not_your_turn"
    assert lot.reject(PlaceBid("A03", 110_000)).code == "bid_too_low", "must beat the leader"
    lot.wait(10)
    lot.do(PlaceBid("A03", 111_000))
    lot.do(Keep("A03"))
    assert lot.s.turn == "A01"
    assert lot.s.deadline == lot.now + timedelta(seconds=120), "keeping starts the next turn now"
    lot.do(Keep("A01"))
    lot.do(PlaceBid("A02", 115_000))
    lot.do(Keep("A02"))
    lot.tick_at_deadline()  # A04 lets the clock run
    pausing = lot.s
    assert (pausing.phase, pausing.turn) == ("round_pause", None)
    assert pausing.deadline == lot.now + timedelta(seconds=120)

    lot.tick_at_deadline()
    assert round_orders(lot)[1] == ["A01", "A04", "A03", "A02"]
    lot.do(PlaceBid("A01", 120_000))
    lot.do(Keep("A01"))
    lot.do(Keep("A04"))
    lot.do(PlaceBid("A03", 121_000))
    lot.do(PlaceBid("A03", 125_000))  # a revised raise: the last one counts
    lot.do(Keep("A03"))
    lot.do(PlaceBid("A02", 126_000))
    lot.do(WithdrawRaise("A02"))  # back to 115,000 from round 1
    assert (lot.s.current_price_fen, lot.s.leader) == (125_000, "A03")
    lot.do(Keep("A02"))

    lot.tick_at_deadline()
    assert round_orders(lot)[2] == ["A04", "A02", "A01", "A03"]
    lot.do(PlaceBid("A04", 126_000))
    lot.do(Keep("A04"))
    lot.do(Keep("A02"))
    lot.do(Keep("A01"))
    events = lot.tick_at_deadline()
    assert kinds(events) == ["turn_ended", "round_ended", "bidding_ended", "lot_closed"]
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["price_fen"]) == ("A04", 126_000)
    assert (lot.s.result["rounds"], lot.s.result["ended_by"]) == (3, "last_round")


def test_raising_over_ones_own_bid_lets_a_trailing_bidder_improve_without_overtaking() -> None:
    own = Lot("sequential", RULES | {"raise_over": "own"}, FOUR, initial_bids=INITIAL)
    leader = Lot("sequential", RULES, FOUR, initial_bids=INITIAL)
    for lot in (own, leader):
        lot.tick_at_deadline()
        assert lot.s.turn == "A03"
    own.do(PlaceBid("A03", 101_000))
    assert own.s.leader == "A04"
    assert leader.reject(PlaceBid("A03", 101_000)).code == "bid_too_low"


def test_equal_final_bids_go_to_the_earlier_bid() -> None:
    rules = RULES | {"rounds": 1, "raise_over": "own"}
    lot = Lot("sequential", rules, ["A01", "A02"], initial_bids={"A01": 100_000, "A02": 105_000})
    lot.tick_at_deadline()
    assert lot.s.turn == "A01"
    lot.do(PlaceBid("A01", 105_000))  # ties A02's initial bid, which is earlier
    assert lot.s.leader == "A02"
    lot.do(Keep("A01"))
    lot.tick_at_deadline()
    assert lot.s.result is not None
    assert lot.s.result["winner"] == "A02"


def test_only_the_bidder_in_turn_may_keep_or_withdraw_and_only_a_real_raise() -> None:
    lot = Lot("sequential", RULES, FOUR, initial_bids=INITIAL)
    assert lot.reject(Keep("A03")).code == "not_your_turn", "no turn during the first pause"
    lot.tick_at_deadline()
    assert lot.reject(Keep("A01")).code == "not_your_turn"
    assert lot.reject(WithdrawRaise("A03")).code == "nothing_to_withdraw"
    lot.do(PlaceBid("A03", 111_000))
    lot.do(WithdrawRaise("A03"))
    assert lot.reject(WithdrawRaise("A03")).code == "nothing_to_withdraw"
    lot.wait_until_deadline()
    assert lot.reject(Keep("A03")).code == "deadline_passed"


def test_registration_takes_a_sealed_initial_bid_on_the_step_grid() -> None:
    lot = Lot("sequential", RULES, [], until="registration")
    assert lot.reject(QualifyBidder("A01")).code == "initial_bid_required"
    assert lot.reject(QualifyBidder("A01", initial_bid_fen=99_000)).code == "bid_too_low"
    bad_step = QualifyBidder("A01", initial_bid_fen=100_500)
    assert lot.reject(bad_step).code == "not_a_multiple_of_step"
    assert lot.reject(QualifyBidder("A01", initial_bid_fen=0)).code == "invalid_amount"
    lot.do(QualifyBidder("A01", initial_bid_fen=100_000))
    assert (lot.s.current_price_fen, lot.s.leader) == (None, None), "sealed until opening"
    lot.do(OpenLot())
    assert lot.s.current_price_fen == 100_000


def test_a_late_scheduler_keeps_the_fixed_turn_schedule() -> None:
    lot = Lot("sequential", RULES, FOUR, initial_bids=INITIAL)
    lot.wait(300 + 120 + 5)
    events = lot.tick()
    assert kinds(events) == [
        "round_started",
        "turn_started",
        "turn_ended",
        "turn_started",
    ]
    assert lot.s.turn == "A01"
    assert lot.s.deadline == T0 + timedelta(seconds=300 + 240)
