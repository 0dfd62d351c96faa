"""A hypothesis state machine that drives one lot with random commands and checks the rules'
invariants after every step; test_properties.py subclasses it per format."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any, ClassVar

from hypothesis import event
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from app.auction import (
    Cancel,
    CloseEarly,
    CreateLot,
    Event,
    Keep,
    LotState,
    OpenLot,
    Pause,
    PlaceBid,
    PriorityDecision,
    Publish,
    QualifyBidder,
    Resume,
    RuleViolation,
    Tick,
    WithdrawRaise,
    apply,
    decide,
    format_time,
    next_deadline,
    replay,
)
from app.auction.commands import Command

from .helpers import T0, assert_json_only

BIDDERS = ["A1", "A2", "A3", "A4", "A5"]
BIDDING_COMMANDS = (PlaceBid, Keep, WithdrawRaise, PriorityDecision)
BIDDING_PHASES = {"free", "timed", "turn", "sealed_round"}
BAD_AMOUNTS = [0, -1, True, 1.5, 2**53 + 1]


class LotMachine(RuleBasedStateMachine):
    """Random bidders, amounts, clock moves, pauses and ticks against one lot."""

    format: ClassVar[str]

    def __init__(self) -> None:
        super().__init__()
        self.now = T0
        self.state: LotState | None = None
        self.events: list[Event] = []
        self.params: dict[str, Any] = {}  # the lot's rules as given
        # The oracle's own record of every bid that stands, built from accepted commands.
        self.standing: dict[str, tuple[int, int]] = {}  # bidder -> (amount, order)
        self.turn_start: tuple[int, int] | None = None
        self.order = 0
        self.matched_by: str | None = None

    # -- driving -----------------------------------------------------------------------
    @property
    def s(self) -> LotState:
        assert self.state is not None
        return self.state

    def run(self, command: Command) -> list[Event] | RuleViolation:
        """decide + apply, checking what must hold of every accepted or refused command."""
        before = self.state
        snapshot = copy.deepcopy(before)
        refused: RuleViolation | None = None
        try:
            events = decide(before, command, self.now)
        except RuleViolation as violation:
            refused = violation
        if refused is not None:
            assert self.state == snapshot, "a refused command changed the state"
            if before is not None and before.status == "paused":
                if isinstance(command, BIDDING_COMMANDS):
                    assert refused.code in ("lot_paused", "invalid_amount")
            return refused
        assert before == snapshot, "decide() changed the state"
        if before is not None and isinstance(command, BIDDING_COMMANDS):
            self.check_window(before)
        if isinstance(command, Tick) and before is not None:
            due = next_deadline(before)
            if due is None or self.now < due:
                assert events == [], "a Tick before the deadline did something"
        for new in events:
            assert new.at == self.now
            assert_json_only(new.data)
            self.state = apply(self.state, new)
            self.record(new)
        self.events += events
        return events

    def check_window(self, before: LotState) -> None:
        """Nothing is accepted outside its window, after its deadline or while paused."""
        assert before.status == "open"
        assert before.phase in BIDDING_PHASES | {"priority"}
        assert before.deadline is not None
        assert self.now < before.deadline

    def record(self, event: Event) -> None:
        data = event.data
        if event.type == "bidder_qualified" and data["initial_bid_fen"] is not None:
            self.stand(data["bidder"], data["initial_bid_fen"])
        elif event.type == "bid_placed":
            self.check_bid(data["bidder"], data["amount_fen"])
            self.stand(data["bidder"], data["amount_fen"])
        elif event.type == "turn_started":
            self.turn_start = self.standing[data["bidder"]]
        elif event.type == "raise_withdrawn":
            assert self.turn_start is not None
            self.standing[data["bidder"]] = self.turn_start
        elif event.type == "priority_decided" and data["match"]:
            self.matched_by = data["holder"]
        elif event.type == "lot_closed":
            self.check_result(data["result"])

    def stand(self, bidder: str, amount: int) -> None:
        self.standing[bidder] = (amount, self.order)
        self.order += 1

    def check_bid(self, bidder: str, amount: int) -> None:
        """Each format adds what an accepted bid must satisfy."""

    def check_result(self, result: dict[str, Any]) -> None:
        """The result is the highest standing bid (earlier wins ties), sold at or above the
        reserve, unless a priority holder matched it."""
        reserve = self.params.get("reserve_price_fen")
        if not self.standing:
            assert (result["outcome"], result["reason"]) == ("unsold", "no_bids")
            return
        best = max(self.standing, key=lambda b: (self.standing[b][0], -self.standing[b][1]))
        price = self.standing[best][0]
        if reserve is not None and price < reserve:
            assert (result["outcome"], result["reason"]) == ("unsold", "below_reserve")
            return
        assert result["outcome"] == "sold"
        assert result["price_fen"] == price
        assert result["winner"] == (self.matched_by or best)

    def draw_amount(self, data: st.DataObject, floor: int, step: int) -> Any:
        kind = data.draw(st.sampled_from(["steps"] * 7 + ["any"] * 2 + ["bad"]), label="kind")
        if kind == "steps":
            return floor + step * data.draw(st.sampled_from([1, 1, 2, 5, 0, 12]), label="steps")
        if kind == "any":
            return data.draw(st.integers(1, floor + 8 * step), label="amount")
        return data.draw(st.sampled_from(BAD_AMOUNTS), label="bad amount")

    def open_lot(self, rules: dict[str, Any], bidders: list[str], holders: set[str]) -> None:
        self.params = rules
        assert isinstance(self.run(CreateLot(self.format, rules)), list)
        assert isinstance(self.run(Publish()), list)
        for bidder in bidders:
            self.qualify(bidder, bidder in holders)
        assert isinstance(self.run(OpenLot()), list)

    def qualify(self, bidder: str, priority: bool) -> None:
        assert isinstance(self.run(QualifyBidder(bidder, priority)), list)

    # -- rules shared by every format -------------------------------------------------
    @rule(seconds=st.integers(0, 60), micros=st.integers(0, 999_999))
    def wait(self, seconds: int, micros: int) -> None:
        self.now += timedelta(seconds=seconds, microseconds=micros)

    @rule(roll=st.integers(0, 2))
    def wait_until_deadline(self, roll: int) -> None:
        deadline = next_deadline(self.state)
        if deadline is not None and roll == 0:
            self.now = max(self.now, deadline)

    @rule()
    def tick(self) -> None:
        self.run(Tick())

    @rule(data=st.data(), count=st.integers(1, 8))
    def bids(self, data: st.DataObject, count: int) -> None:
        """A burst of bids a few seconds apart, now and then from a stranger."""
        for _ in range(count):
            self.now += timedelta(seconds=data.draw(st.integers(0, 5), label="pause"))
            bidder = self.draw_bidder(data)
            step = self.params["step_fen"]
            base = self.s.current_price_fen or self.params["start_price_fen"]
            command = PlaceBid(bidder, self.draw_amount(data, base, step))
            expected = self.predict(command)
            outcome = self.run(command)
            if expected is not None:
                assert isinstance(outcome, list) == expected, (command, outcome)

    # Bidding is what the rules are about: give it twice the other rules' share of steps.
    more_bids = bids

    def draw_bidder(self, data: st.DataObject) -> str:
        """Mostly someone other than the leader, so that lots get far; now and then the
        leader or a stranger, to check they are refused."""
        roll = data.draw(st.integers(0, 9), label="who")
        others = [b for b in self.s.bidders if b != self.s.leader]
        if roll == 0 or not others:
            return "Z9" if roll == 0 else self.s.bidders[0]
        if roll == 1 and self.s.leader is not None:
            return self.s.leader
        return data.draw(st.sampled_from(others), label="bidder")

    def predict(self, command: PlaceBid) -> bool | None:
        """Whether the bid must be accepted, if the format's oracle knows; else None."""
        return None

    @precondition(lambda self: self.s.phase == "priority")
    @rule(data=st.data())
    def priority_decision(self, data: st.DataObject) -> None:
        bidder = data.draw(st.sampled_from(self.s.bidders), label="holder")
        self.run(PriorityDecision(bidder, data.draw(st.booleans(), label="match")))

    @precondition(lambda self: self.s.status == "open")
    @rule(roll=st.integers(0, 3))
    def pause(self, roll: int) -> None:
        if roll == 0:
            self.run(Pause("fault"))

    @precondition(lambda self: self.s.status == "paused")
    @rule(seconds=st.integers(1, 3600))
    def resume_later(self, seconds: int) -> None:
        before = self.s
        self.now += timedelta(seconds=seconds)
        outcome = self.run(Resume())
        if isinstance(outcome, list) and before.deadline is not None:
            assert before.paused_at is not None
            moved_to = before.deadline + (self.now - before.paused_at)
            assert outcome[0].data["deadline"] == format_time(moved_to)

    @rule(roll=st.integers(0, 9))
    def close_early(self, roll: int) -> None:
        if roll == 0:  # rarely, so that most runs reach their natural end
            self.run(CloseEarly("official decision"))

    @rule(roll=st.integers(0, 19))
    def cancel(self, roll: int) -> None:
        if roll == 0:
            self.run(Cancel("withdrawn"))

    def teardown(self) -> None:
        # Shown by --hypothesis-show-statistics: how far the random lots got.
        bids = sum(1 for e in self.events if e.type == "bid_placed")
        event(f"bids accepted: {min(bids, 10)}{'+' if bids >= 10 else ''}")
        if self.state is not None:
            event(f"status {self.s.status}")
        kinds = {e.type for e in self.events}
        for kind in ("priority_window_opened", "lot_resumed", "raise_withdrawn", "round_started"):
            if kind in kinds:
                event(f"saw {kind}")

    # -- invariants -----------------------------------------------------------------
    @invariant()
    def replay_equals_the_live_state(self) -> None:
        if self.events:
            assert replay(self.events) == self.state

    @invariant()
    def a_lot_ends_once(self) -> None:
        endings = [e.type for e in self.events if e.type in ("lot_closed", "lot_cancelled")]
        assert len(endings) <= 1
        if self.state is not None:
            assert (self.s.status in ("closed", "cancelled")) == bool(endings)
            assert (self.s.result is not None) == (self.s.status == "closed")
            if self.s.status == "open":
                assert next_deadline(self.s) is not None
