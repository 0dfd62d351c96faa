"""Property-based tests: random lots of each format, checked after every step."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import initialize, invariant, precondition, rule

from app.auction import Keep, PlaceBid, QualifyBidder, RuleViolation, WithdrawRaise, format_time

from .helpers import T0
from .machines import BIDDERS, LotMachine

# Stated in docs/rules.md; 3 formats x 200 runs x up to 50 steps takes ~30 s on one core.
SETTINGS = settings(
    max_examples=200,
    stateful_step_count=50,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.one_of(st.none(), strategy)


def draw_common(data: st.DataObject) -> dict[str, Any]:
    step = data.draw(st.sampled_from([1, 10, 1_000]), label="step")
    start = data.draw(st.sampled_from([100, 1_000, 100_000]), label="start")
    reserve = data.draw(optional(st.integers(0, 20)), label="reserve steps")
    return {
        "start_price_fen": start,
        "step_fen": step,
        "reserve_price_fen": None if reserve is None else start + reserve * step,
        "priority_window_s": data.draw(st.sampled_from([60, 600]), label="window"),
    }


def draw_bidders(data: st.DataObject) -> tuple[list[str], set[str]]:
    bidders = BIDDERS[: data.draw(st.integers(1, len(BIDDERS)), label="bidders")]
    holders = data.draw(st.sets(st.sampled_from(bidders), max_size=2), label="holders")
    return bidders, holders


class TimedLot(LotMachine):
    format = "timed"

    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        rules = draw_common(data)
        step = rules["step_fen"]
        max_raise = data.draw(optional(st.integers(1, 10)), label="max raise steps")
        cap = data.draw(optional(st.integers(1, 30 * step)), label="cap above start")
        hard_end_s = data.draw(optional(st.integers(100, 5_000)), label="hard end")
        hard_end = None if hard_end_s is None else T0 + timedelta(seconds=hard_end_s)
        rules |= {
            "step_multiple_only": data.draw(st.booleans(), label="multiple only"),
            "max_raise_fen": None if max_raise is None else max_raise * step,
            "cap_price_fen": None if cap is None else rules["start_price_fen"] + cap,
            "free_period_s": data.draw(st.sampled_from([0, 60, 600]), label="free period"),
            "countdown_s": data.draw(st.sampled_from([60, 300]), label="countdown"),
            "hard_end_at": None if hard_end is None else format_time(hard_end),
        }
        bidders, holders = draw_bidders(data)
        self.last_price: int | None = None
        self.open_lot(rules, bidders, holders)

    def predict(self, command: PlaceBid) -> bool:
        """An independent statement of the timed rules."""
        s, amount, rules = self.s, command.amount_fen, self.params
        if type(amount) is not int or not 0 < amount <= 2**53:
            return False
        if s.status != "open" or s.phase not in ("free", "timed") or s.deadline is None:
            return False
        if command.bidder not in s.bidders or command.bidder == s.leader or self.now >= s.deadline:
            return False
        base = s.current_price_fen or rules["start_price_fen"]
        cap, step, max_raise = rules["cap_price_fen"], rules["step_fen"], rules["max_raise_fen"]
        if cap is not None and amount > cap:
            return False
        if max_raise is not None and amount - base > max_raise:
            return False
        if cap is not None and amount == cap and amount > base:
            return True
        floor = base if s.current_price_fen is None else base + step
        on_grid = not rules["step_multiple_only"] or (amount - base) % step == 0
        return amount >= floor and on_grid

    def check_bid(self, bidder: str, amount: int) -> None:
        """Accepted prices rise strictly, by at least a step (the cap excepted)."""
        step, cap = self.params["step_fen"], self.params["cap_price_fen"]
        if self.last_price is None:
            assert amount >= self.params["start_price_fen"]
        else:
            assert amount >= self.last_price + step or (amount == cap and amount > self.last_price)
        self.last_price = amount


class SequentialLot(LotMachine):
    format = "sequential"

    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        rules = draw_common(data)
        max_raise = data.draw(optional(st.integers(1, 10)), label="max raise steps")
        rules |= {
            "step_multiple_only": data.draw(st.booleans(), label="multiple only"),
            "max_raise_fen": None if max_raise is None else max_raise * rules["step_fen"],
            "rounds": data.draw(st.integers(1, 3), label="rounds"),
            "turn_s": data.draw(st.sampled_from([30, 120]), label="turn"),
            "pause_s": data.draw(st.sampled_from([0, 60]), label="pause"),
            "first_pause_s": data.draw(st.sampled_from([0, 60, 300]), label="first pause"),
            "raise_over": data.draw(st.sampled_from(["leader", "own"]), label="raise over"),
        }
        self.initial = {
            bidder: rules["start_price_fen"] + rules["step_fen"] * data.draw(st.integers(0, 10))
            for bidder in BIDDERS
        }
        bidders, holders = draw_bidders(data)
        self.open_lot(rules, bidders, holders)

    def qualify(self, bidder: str, priority: bool) -> None:
        refused = self.run(QualifyBidder(bidder, priority))
        assert isinstance(refused, RuleViolation)
        assert refused.code == "initial_bid_required"
        self.run(QualifyBidder(bidder, priority, self.initial[bidder]))

    def predict(self, command: PlaceBid) -> bool | None:
        s = self.s
        if s.status == "open" and s.phase == "turn" and command.bidder != s.turn:
            return False
        return None

    def check_bid(self, bidder: str, amount: int) -> None:
        """Only the bidder in turn raises, by a step over their own or the leading bid."""
        assert bidder == self.s.turn
        assert self.turn_start is not None
        base = self.turn_start[0]
        if self.params["raise_over"] == "leader":
            base = max([base, *(a for b, (a, _) in self.standing.items() if b != bidder)])
        assert amount >= base + self.params["step_fen"]

    @precondition(lambda self: self.s.phase == "turn")
    @rule(data=st.data())
    def raise_in_turn(self, data: st.DataObject) -> None:
        assert self.s.turn is not None
        assert self.s.current_price_fen is not None
        self.now += timedelta(seconds=data.draw(st.integers(0, 10), label="think"))
        amount = self.draw_amount(data, self.s.current_price_fen, self.params["step_fen"])
        self.run(PlaceBid(self.s.turn, amount))

    @rule(data=st.data())
    def keep(self, data: st.DataObject) -> None:
        self.run(Keep(data.draw(st.sampled_from(self.s.bidders), label="bidder")))

    @rule(data=st.data())
    def withdraw(self, data: st.DataObject) -> None:
        self.run(WithdrawRaise(data.draw(st.sampled_from(self.s.bidders), label="bidder")))


class SealedLot(LotMachine):
    format = "sealed"

    @initialize(data=st.data())
    def setup(self, data: st.DataObject) -> None:
        rules = draw_common(data)
        rules |= {
            "rounds": data.draw(st.integers(1, 4), label="rounds"),
            "round_s": data.draw(st.sampled_from([60, 600]), label="round"),
        }
        bidders, holders = draw_bidders(data)
        rules["min_bidders"] = data.draw(st.integers(1, len(bidders)), label="min bidders")
        self.active = set(bidders)
        self.bid_this_round: set[str] = set()
        self.floor = rules["start_price_fen"]
        self.round_high = 0
        self.open_lot(rules, bidders, holders)

    def record(self, event: Any) -> None:
        super().record(event)
        if event.type == "round_started":
            self.floor = self.round_high + self.params["step_fen"]
            assert event.data["floor_fen"] == self.floor
            self.active, self.bid_this_round = set(self.bid_this_round), set()

    def check_bid(self, bidder: str, amount: int) -> None:
        """One bid per round, from a bidder still in, at least the round's floor."""
        assert bidder in self.active
        assert bidder not in self.bid_this_round
        assert amount >= self.floor
        self.bid_this_round.add(bidder)
        self.round_high = max(self.round_high, amount)

    @invariant()
    def sealed_bids_stay_secret_until_the_end(self) -> None:
        if self.state is not None and self.s.status in ("open", "paused"):
            assert self.s.leader is None
            if self.s.phase == "sealed_round":
                placed = sum(1 for e in self.events if e.type == "bid_placed")
                assert self.s.bid_count == placed - len(self.bid_this_round)


TestTimedLot = TimedLot.TestCase
TestTimedLot.settings = SETTINGS
TestSequentialLot = SequentialLot.TestCase
TestSequentialLot.settings = SETTINGS
TestSealedLot = SealedLot.TestCase
TestSealedLot.settings = SETTINGS
