"""Rule parameters, the event wire format and replay's refusal of a bad log."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.auction import (
    CODES,
    INFORMATIONAL_EVENTS,
    CreateLot,
    Event,
    PlaceBid,
    RuleViolation,
    SealedRules,
    SequentialRules,
    TimedRules,
    apply,
    decide,
    format_time,
    parse_rules,
    parse_time,
    public_event_data,
    public_rules,
    replay,
)

from .helpers import T0, Lot

BASE = {"start_price_fen": 100_000, "step_fen": 1_000}


def test_parse_rules_fills_the_defaults_of_each_format() -> None:
    timed = parse_rules("timed", BASE)
    assert timed == TimedRules(100_000, 1_000)
    assert (timed.countdown_s, timed.free_period_s, timed.priority_window_s) == (300, 0, 600)
    sequential = parse_rules("sequential", BASE)
    assert isinstance(sequential, SequentialRules)
    assert (sequential.rounds, sequential.turn_s, sequential.pause_s) == (3, 120, 120)
    assert (sequential.first_pause_s, sequential.raise_over) == (300, "leader")
    sealed = parse_rules("sealed", BASE)
    assert isinstance(sealed, SealedRules)
    assert (sealed.rounds, sealed.round_s, sealed.min_bidders) == (1, 600, 1)


@pytest.mark.parametrize(
    ("format", "rules", "field"),
    [
        ("dutch", BASE, "format"),
        ("timed", {"step_fen": 1_000}, "start_price_fen"),
        ("timed", BASE | {"step_fen": True}, "step_fen"),
        ("timed", BASE | {"step_fen": 10.0}, "step_fen"),
        ("timed", BASE | {"step_fen": 0}, "step_fen"),
        ("timed", BASE | {"countdown_s": -1}, "countdown_s"),
        ("timed", BASE | {"free_period_s": 0.5}, "free_period_s"),
        ("timed", BASE | {"step_multiple_only": 1}, "step_multiple_only"),
        ("timed", BASE | {"rounds": 3}, "rounds"),
        ("timed", BASE | {"reserve_price_fen": 2**53 + 1}, "reserve_price_fen"),
        ("timed", BASE | {"cap_price_fen": 100_000}, "cap_price_fen"),
        ("timed", BASE | {"max_raise_fen": 500}, "max_raise_fen"),
        ("timed", BASE | {"hard_end_at": "2026-11-25T10:00:00"}, "hard_end_at"),
        ("timed", BASE | {"hard_end_at": "tomorrow"}, "hard_end_at"),
        ("sequential", BASE | {"raise_over": "anyone"}, "raise_over"),
        ("sequential", BASE | {"rounds": 0}, "rounds"),
        ("sealed", BASE | {"step_multiple_only": True}, "step_multiple_only"),
        ("sealed", BASE | {"min_bidders": 0}, "min_bidders"),
    ],
)
def test_bad_rule_parameters_are_refused_naming_the_field(
    format: str, rules: dict[str, Any], field: str
) -> None:
    with pytest.raises(RuleViolation) as caught:
        parse_rules(format, rules)
    assert (caught.value.code, caught.value.field) == ("invalid_rules", field)


def test_public_rules_are_the_normalised_rules_without_the_reserve() -> None:
    rules = BASE | {"reserve_price_fen": 150_000, "hard_end_at": "2026-11-25T18:00:00+08:00"}
    public = public_rules("timed", rules)
    assert "reserve_price_fen" not in public
    assert public["hard_end_at"] == "2026-11-25T10:00:00.000000Z"
    assert public["countdown_s"] == 300


def test_times_on_the_wire_are_utc_with_six_fraction_digits_and_z() -> None:
    moment = datetime(2026, 11, 25, 23, 9, 32, 123456, tzinfo=timezone(timedelta(hours=8)))
    assert format_time(moment) == "2026-11-25T15:09:32.123456Z"
    assert parse_time("2026-11-25T15:09:32.123456Z") == moment
    assert parse_time("2026-11-25T15:09:32.123456Z").tzinfo is UTC
    with pytest.raises(ValueError, match="naive"):
        format_time(datetime(2026, 11, 25))
    with pytest.raises(ValueError, match="timezone"):
        parse_time("2026-11-25T15:09:32")


def test_decide_refuses_a_naive_clock() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        decide(None, CreateLot("timed", BASE), datetime(2026, 11, 25))


def test_the_services_own_events_are_ignored_and_unknown_ones_refused() -> None:
    lot = Lot("timed", BASE, ["A01"])
    for kind in [*INFORMATIONAL_EVENTS, "info_official_comment"]:
        assert apply(lot.s, Event(kind, T0, {"anything": 1})) is lot.s
    with pytest.raises(ValueError, match="unknown event type"):
        apply(lot.s, Event("bid_retracted", T0, {}))
    with pytest.raises(ValueError, match="starts with lot_created"):
        replay([Event("lot_published", T0, {})])


def test_replay_refuses_a_log_whose_result_was_tampered_with() -> None:
    lot = Lot("timed", BASE, ["A01", "A02"])
    lot.do(PlaceBid("A01", 100_000))
    lot.do(PlaceBid("A02", 101_000))
    lot.tick_at_deadline()
    closed = lot.events[-1]
    forged = {**closed.data["result"], "winner": "A01", "price_fen": 100_000}
    with pytest.raises(ValueError, match="lot_closed says"):
        replay([*lot.events[:-1], Event("lot_closed", closed.at, {"result": forged})])


def test_public_event_data_hides_the_reserve_initial_bids_and_priority_holders() -> None:
    lot = Lot("sequential", BASE | {"reserve_price_fen": 1}, ["A01"], priority=["A01"],
              initial_bids={"A01": 100_000})  # fmt: skip
    created, _, qualified, opened = (public_event_data("sequential", e) for e in lot.events)
    assert created is not None
    assert "reserve_price_fen" not in created["rules"]
    assert qualified == {"bidder": "A01"}
    assert opened is not None
    assert opened["initial_bids"] == [{"bidder": "A01", "amount_fen": 100_000}]


def test_every_code_has_a_sentence_and_violations_carry_code_and_message() -> None:
    assert all(code.islower() and sentence.endswith(".") for code, sentence in CODES.items())
    violation = RuleViolation("bid_too_low", "Too low.")
    assert (violation.code, violation.message, violation.field, str(violation)) == (
        "bid_too_low",
        "Too low.",
        None,
        "Too low.",
    )
