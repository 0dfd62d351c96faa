"""Worked scenarios of sealed rounds (一次性报价 and its multi-round form)."""

from __future__ import annotations

from app.auction import PlaceBid, public_event_data

from .helpers import Lot, kinds

TENDER = {"start_price_fen": 300_000, "step_fen": 5_000, "round_s": 600}
FIVE = ["A01", "A02", "A03", "A04", "A05"]


def test_a_one_shot_sealed_tender_goes_to_the_highest_bid_revealed_only_at_the_end() -> None:
    lot = Lot("sealed", TENDER, FIVE)
    assert (lot.s.phase, lot.s.round) == ("sealed_round", 1)
    for bidder, amount in [("A01", 310_000), ("A02", 352_500), ("A04", 300_000)]:
        lot.wait(30)
        lot.do(PlaceBid(bidder, amount))
    assert (lot.s.current_price_fen, lot.s.leader, lot.s.bid_count) == (None, None, 0)
    assert all(public_event_data("sealed", e) is None for e in lot.events[-3:])
    assert lot.reject(PlaceBid("A01", 400_000)).code == "already_bid_this_round"
    assert lot.reject(PlaceBid("A03", 299_999)).code == "bid_too_low"

    events = lot.tick_at_deadline()
    assert kinds(events) == ["round_ended", "bidding_ended", "lot_closed"]
    assert events[0].data["highest_fen"] == 352_500
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["price_fen"]) == ("A02", 352_500)
    assert (lot.s.result["rounds"], lot.s.result["ended_by"]) == (1, "last_round")
    assert lot.s.bid_count == 3


def test_equal_sealed_bids_go_to_the_earlier_one() -> None:
    lot = Lot("sealed", TENDER, FIVE)
    lot.do(PlaceBid("A03", 320_000))
    lot.wait(1)
    lot.do(PlaceBid("A01", 320_000))
    lot.tick_at_deadline()
    assert lot.s.result is not None
    assert lot.s.result["winner"] == "A03"


def test_later_rounds_start_a_step_above_the_revealed_highest_and_skippers_drop_out() -> None:
    lot = Lot("sealed", TENDER | {"rounds": 3}, FIVE)
    lot.do(PlaceBid("A01", 310_000))
    lot.do(PlaceBid("A02", 320_000))
    lot.do(PlaceBid("A03", 300_000))
    events = lot.tick_at_deadline()
    assert kinds(events) == ["round_ended", "round_started"]
    assert (lot.s.round, lot.s.current_price_fen, lot.s.leader) == (2, 320_000, None)
    assert events[1].data["floor_fen"] == 325_000
    assert lot.reject(PlaceBid("A04", 400_000)).code == "bidder_dropped_out"
    assert lot.reject(PlaceBid("A03", 324_000)).code == "bid_too_low"
    lot.do(PlaceBid("A03", 330_000))
    lot.do(PlaceBid("A01", 340_000))
    lot.tick_at_deadline()
    assert lot.s.round == 3
    events = lot.tick_at_deadline()  # nobody bids in round 3
    assert kinds(events) == ["round_ended", "bidding_ended", "lot_closed"]
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["price_fen"]) == ("A01", 340_000)
    assert lot.s.result["ended_by"] == "no_bids_in_round"


def test_sealed_rounds_stop_when_only_one_bidder_is_left() -> None:
    lot = Lot("sealed", TENDER | {"rounds": 5}, FIVE)
    lot.do(PlaceBid("A05", 330_000))
    events = lot.tick_at_deadline()
    assert kinds(events) == ["round_ended", "bidding_ended", "lot_closed"]
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["ended_by"]) == ("A05", "single_bidder_left")


def test_a_sealed_round_without_bids_leaves_the_lot_unsold() -> None:
    lot = Lot("sealed", TENDER, FIVE)
    lot.tick_at_deadline()
    assert lot.s.result is not None
    assert (lot.s.result["outcome"], lot.s.result["reason"]) == ("unsold", "no_bids")
