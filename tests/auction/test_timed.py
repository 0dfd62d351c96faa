"""Worked scenarios of the timed format (网络竞价)."""

from __future__ import annotations

from datetime import datetime, timedelta

from app.auction import PlaceBid, Tick, format_time, next_deadline

from .helpers import T0, Lot, kinds

SIX = ["A01", "A02", "A03", "A04", "A05", "A06"]
MARKET = {"start_price_fen": 1_000_000, "step_fen": 10_000, "countdown_s": 300}


def test_a_market_lease_sells_after_99_timed_rounds_among_6_bidders() -> None:
    lot = Lot("timed", MARKET | {"free_period_s": 3600}, SIX)
    assert (lot.s.phase, lot.s.round, lot.s.deadline) == ("free", 0, T0 + timedelta(hours=1))
    lot.wait(60)
    lot.do(PlaceBid("A01", 1_000_000))  # the first bid may equal the start price
    lot.wait(60)
    lot.do(PlaceBid("A02", 1_050_000))
    assert lot.s.deadline == T0 + timedelta(hours=1), "free-period bids do not extend it"

    started = lot.tick_at_deadline()
    assert kinds(started) == ["timed_period_started"]
    assert (lot.s.phase, lot.s.round) == ("timed", 1)
    assert lot.s.deadline == T0 + timedelta(hours=1, seconds=300)

    quick_bids = [1, 2, 5]  # the page's +1, +2 and +5 step buttons
    price = 1_050_000
    for n in range(98):
        bidder = SIX[n % 6] if SIX[n % 6] != lot.s.leader else SIX[(n + 1) % 6]
        price += 10_000 * quick_bids[n % 3]
        lot.wait(30 + n % 200)
        lot.do(PlaceBid(bidder, price))
        assert lot.s.round == n + 2
        assert lot.s.deadline == lot.now + timedelta(seconds=300), "each bid resets the countdown"
    winner = lot.s.leader

    lot.wait(299)
    assert lot.do(Tick()) == []
    closing = lot.tick_at_deadline()
    assert kinds(closing) == ["bidding_ended", "lot_closed"]
    assert lot.s.status == "closed"
    assert lot.s.result == {
        "outcome": "sold",
        "winner": winner,
        "price_fen": price,
        "reason": "highest_bid",
        "rounds": 99,
        "ended_by": "countdown",
        "note": None,
    }
    assert lot.s.bid_count == 100
    assert next_deadline(lot.s) is None


def test_with_no_free_period_the_first_countdown_starts_at_opening() -> None:
    lot = Lot("timed", MARKET, ["A01"])
    assert (lot.s.phase, lot.s.round, lot.s.deadline) == ("timed", 1, T0 + timedelta(seconds=300))


def test_the_leader_may_not_raise_their_own_bid() -> None:
    lot = Lot("timed", MARKET, ["A01", "A02"])
    lot.do(PlaceBid("A01", 1_000_000))
    assert lot.reject(PlaceBid("A01", 1_010_000)).code == "already_leading"


def test_a_raise_must_be_a_whole_step_and_at_most_the_largest_raise() -> None:
    lot = Lot("timed", MARKET | {"max_raise_fen": 50_000}, ["A01", "A02"])
    assert lot.reject(PlaceBid("A01", 999_999)).code == "bid_too_low"
    assert lot.reject(PlaceBid("A01", 1_005_000)).code == "not_a_multiple_of_step"
    lot.do(PlaceBid("A01", 1_000_000))
    assert lot.reject(PlaceBid("A02", 1_000_000)).code == "bid_too_low"
    assert lot.reject(PlaceBid("A02", 1_015_000)).code == "not_a_multiple_of_step"
    assert lot.reject(PlaceBid("A02", 1_060_000)).code == "raise_too_large"
    lot.do(PlaceBid("A02", 1_050_000))


def test_without_the_multiple_rule_any_raise_of_at_least_a_step_is_taken() -> None:
    lot = Lot("timed", MARKET | {"step_multiple_only": False}, ["A01", "A02"])
    lot.do(PlaceBid("A01", 1_000_001))
    assert lot.reject(PlaceBid("A02", 1_010_000)).code == "bid_too_low"
    lot.do(PlaceBid("A02", 1_010_001 + 3))


def test_a_bid_at_the_cap_price_ends_the_lot_sold_at_once() -> None:
    lot = Lot("timed", MARKET | {"cap_price_fen": 1_025_000}, ["A01", "A02"])
    lot.do(PlaceBid("A01", 1_020_000))
    assert lot.reject(PlaceBid("A02", 1_030_000)).code == "above_cap"
    # Less than a step and off the step grid, yet the cap itself may always be bid.
    events = lot.do(PlaceBid("A02", 1_025_000))
    assert kinds(events) == ["bid_placed", "bidding_ended", "lot_closed"]
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["ended_by"]) == ("A02", "cap")


def test_the_hard_end_stops_bidding_even_right_after_a_bid() -> None:
    hard_end = T0 + timedelta(seconds=400)
    rules = MARKET | {"countdown_s": 600, "hard_end_at": format_time(hard_end)}
    lot = Lot("timed", rules, ["A01", "A02"])
    assert lot.s.deadline == hard_end
    lot.wait(350)
    lot.do(PlaceBid("A01", 1_000_000))
    assert lot.s.deadline == hard_end, "the countdown may not run past the hard end"
    events = lot.tick_at_deadline()
    assert lot.s.result is not None
    assert kinds(events) == ["bidding_ended", "lot_closed"]
    assert lot.s.result["ended_by"] == "hard_end"


def test_a_bid_after_the_deadline_is_rejected_even_before_the_scheduler_ticks() -> None:
    lot = Lot("timed", MARKET, ["A01", "A02"])
    lot.do(PlaceBid("A01", 1_000_000))
    lot.wait_until_deadline()
    assert lot.reject(PlaceBid("A02", 1_010_000)).code == "deadline_passed"
    lot.wait(0.001)
    assert lot.reject(PlaceBid("A02", 1_010_000)).code == "deadline_passed"
    lot.tick()
    assert lot.reject(PlaceBid("A02", 1_010_000)).code == "lot_not_open"


def test_a_late_scheduler_starts_the_timed_period_when_the_free_period_was_due_to_end() -> None:
    lot = Lot("timed", MARKET | {"free_period_s": 600}, ["A01"])
    lot.wait(605)
    lot.tick()
    assert lot.s.deadline == T0 + timedelta(seconds=900)


def test_a_late_scheduler_may_run_several_transitions_in_one_tick() -> None:
    lot = Lot("timed", MARKET | {"free_period_s": 600}, ["A01"])
    lot.wait(10_000)
    assert kinds(lot.tick()) == ["timed_period_started", "bidding_ended", "lot_closed"]
    assert lot.s.result is not None
    assert lot.s.result["reason"] == "no_bids"


def test_a_lot_unsold_under_its_reserve_goes_unsold_and_keeps_the_reserve_secret() -> None:
    lot = Lot("timed", MARKET | {"reserve_price_fen": 1_200_000}, ["A01", "A02"], priority=["A02"])
    lot.do(PlaceBid("A01", 1_000_000))
    lot.do(PlaceBid("A02", 1_100_000))
    events = lot.tick_at_deadline()
    assert kinds(events) == ["bidding_ended", "lot_closed"], "no priority window when unsold"
    assert lot.s.result is not None
    assert (lot.s.result["outcome"], lot.s.result["reason"]) == ("unsold", "below_reserve")
    assert (lot.s.result["winner"], lot.s.result["price_fen"]) == (None, None)


def test_a_bid_at_the_reserve_sells() -> None:
    lot = Lot("timed", MARKET | {"reserve_price_fen": 1_010_000}, ["A01", "A02"])
    lot.do(PlaceBid("A01", 1_000_000))
    lot.do(PlaceBid("A02", 1_010_000))
    lot.tick_at_deadline()
    assert lot.s.result is not None
    assert (lot.s.result["outcome"], lot.s.result["winner"]) == ("sold", "A02")


def test_the_worked_timeline_of_docs_rules_md_holds() -> None:
    opened = T0.replace(hour=9)
    rules = {"start_price_fen": 1_000_000, "step_fen": 10_000, "free_period_s": 3600}
    lot = Lot("timed", rules, ["A01", "A02", "A03"], start=opened)
    for clock, bidder, amount, deadline in [
        ("09:01:00", "A01", 1_000_000, "10:00:00"),
        ("09:40:00", "A02", 1_050_000, "10:00:00"),
        ("10:03:10", "A01", 1_060_000, "10:08:10"),
        ("10:07:00", "A03", 1_080_000, "10:12:00"),
    ]:
        if lot.s.phase == "free" and clock >= "10:00:00":
            lot.tick_at_deadline()
            assert (lot.s.round, lot.s.deadline) == (1, at(opened, "10:05:00"))
        lot.now = at(opened, clock)
        lot.do(PlaceBid(bidder, amount))
        assert lot.s.deadline == at(opened, deadline)
    lot.tick_at_deadline()
    assert lot.now == at(opened, "10:12:00")
    assert lot.s.result is not None
    assert (lot.s.result["winner"], lot.s.result["price_fen"], lot.s.result["rounds"]) == (
        "A03",
        1_080_000,
        3,
    )


def at(day: datetime, clock: str) -> datetime:
    hour, minute, second = (int(part) for part in clock.split(":"))
    return day.replace(hour=hour, minute=minute, second=second)
