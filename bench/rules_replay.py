"""Replay a realistic event log through app.auction and report events per second."""

from __future__ import annotations

import argparse
import gc
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from app.auction import (
    CreateLot,
    Event,
    Keep,
    LotState,
    OpenLot,
    PlaceBid,
    Publish,
    QualifyBidder,
    RuleViolation,
    Tick,
    apply,
    decide,
    next_deadline,
    replay,
)
from app.auction.commands import Command

START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)


class LotWriter:
    """Drives one lot through decide() the way the service would, keeping its events."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self.state: LotState | None = None
        self.events: list[Event] = []

    def do(self, command: Command) -> None:
        for event in decide(self.state, command, self.now):
            self.state = apply(self.state, event)
            self.events.append(event)

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def tick_to_deadline(self) -> None:
        deadline = next_deadline(self.state)
        assert deadline is not None
        self.now = max(self.now, deadline)
        self.do(Tick())


def _numbers(rng: random.Random, count: int) -> list[str]:
    return [f"A{n:02d}" for n in rng.sample(range(1, 100), count)]


def timed_lot(rng: random.Random, now: datetime) -> list[Event]:
    """A market lease: a free period, then a long run of quick-bid raises."""
    lot = LotWriter(now)
    start, step = rng.choice([(500_000, 10_000), (1_200_000, 50_000), (80_000, 1_000)])
    rules = {"start_price_fen": start, "step_fen": step, "free_period_s": 600}
    lot.do(CreateLot("timed", rules | {"countdown_s": 300, "reserve_price_fen": start * 2}))
    lot.do(Publish())
    bidders = _numbers(rng, rng.randint(3, 12))
    for bidder in bidders:
        lot.do(QualifyBidder(bidder))
    lot.do(OpenLot())
    for _ in range(rng.randint(100, 1500)):
        assert lot.state is not None
        bidder = rng.choice([b for b in bidders if b != lot.state.leader])
        price = lot.state.current_price_fen
        amount = start if price is None else price + step * rng.choice([1, 1, 2, 5])
        lot.wait(rng.uniform(1, 120))
        deadline = lot.state.deadline
        if lot.state.phase == "free" and deadline is not None and lot.now >= deadline:
            lot.do(Tick())  # the free period is over: the timed period starts
        lot.do(PlaceBid(bidder, amount))
    lot.tick_to_deadline()
    return lot.events


def sequential_lot(rng: random.Random, now: datetime) -> list[Event]:
    """Prozorro-style rounds: every turn raises, keeps or lets the clock run."""
    lot = LotWriter(now)
    rules = {"start_price_fen": 100_000, "step_fen": 1_000, "rounds": rng.randint(3, 8)}
    lot.do(CreateLot("sequential", rules | {"raise_over": rng.choice(["leader", "own"])}))
    lot.do(Publish())
    for bidder in _numbers(rng, rng.randint(3, 10)):
        lot.do(QualifyBidder(bidder, initial_bid_fen=100_000 + 1_000 * rng.randint(0, 50)))
    lot.do(OpenLot())
    while lot.state is not None and lot.state.status == "open":
        if lot.state.phase != "turn":
            lot.tick_to_deadline()
            continue
        turn = lot.state.turn
        assert turn is not None
        lot.wait(rng.uniform(1, 60))
        for _ in range(rng.choice([0, 1, 1, 2])):
            price = lot.state.current_price_fen
            assert price is not None
            try:
                lot.do(PlaceBid(turn, price + 1_000 * rng.randint(1, 5)))
            except RuleViolation:
                break
        lot.do(Keep(turn)) if rng.random() < 0.7 else lot.tick_to_deadline()
    return lot.events


def sealed_lot(rng: random.Random, now: datetime) -> list[Event]:
    """A multi-round sealed tender: most bidders bid in each round."""
    lot = LotWriter(now)
    lot.do(CreateLot("sealed", {"start_price_fen": 300_000, "step_fen": 5_000, "rounds": 5}))
    lot.do(Publish())
    bidders = _numbers(rng, rng.randint(5, 30))
    for bidder in bidders:
        lot.do(QualifyBidder(bidder))
    lot.do(OpenLot())
    while lot.state is not None and lot.state.status == "open":
        floor = (lot.state.current_price_fen or 295_000) + 5_000
        for bidder in bidders:
            if rng.random() < 0.8:
                lot.wait(rng.uniform(1, 10))
                try:
                    lot.do(PlaceBid(bidder, floor + 5_000 * rng.randint(0, 10)))
                except RuleViolation:
                    pass  # dropped out in an earlier round
        lot.tick_to_deadline()
    return lot.events


def build_log(total: int, seed: int) -> list[list[Event]]:
    """Lots of the three formats (mostly timed) until `total` events are written."""
    rng = random.Random(seed)
    makers: list[Callable[[random.Random, datetime], list[Event]]] = [timed_lot] * 7
    makers += [sequential_lot] * 2 + [sealed_lot]
    lots: list[list[Event]] = []
    written = 0
    while written < total:
        events = rng.choice(makers)(rng, START + timedelta(hours=len(lots)))
        events = events[: total - written]
        lots.append(events)
        written += len(events)
    return lots


def baseline(lots: list[list[Event]]) -> int:
    """The floor: touch every event's type and amount, nothing more."""
    total = 0
    for events in lots:
        for event in events:
            if event.type == "bid_placed":
                total += event.data.get("amount_fen", 0)
    return total


def replay_all(lots: list[list[Event]]) -> int:
    """What an auditor's verifier does: replay every lot from nothing."""
    closed = 0
    for events in lots:
        if replay(events).status == "closed":
            closed += 1
    return closed


def best_rate(
    run: Callable[[list[list[Event]]], int], lots: list[list[Event]], repeat: int
) -> float:
    count = sum(len(events) for events in lots)
    best = float("inf")
    for _ in range(repeat):
        gc.collect()
        began = time.perf_counter()
        run(lots)
        best = min(best, time.perf_counter() - began)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3, help="runs; the best is reported")
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args()

    began = time.perf_counter()
    lots = build_log(args.events, args.seed)
    count = sum(len(events) for events in lots)
    bids = sum(1 for events in lots for event in events if event.type == "bid_placed")
    print(f"log: {count:,} events in {len(lots):,} lots, {bids / count:.0%} bids")
    print(f"     written through decide() in {time.perf_counter() - began:.1f} s")

    floor = best_rate(baseline, lots, args.repeat)
    rate = best_rate(replay_all, lots, args.repeat)
    print(f"replayed {replay_all(lots):,} closed lots (the last one may be cut short)")
    print(f"baseline (read type and amount): {floor:>12,.0f} events/s")
    print(f"replay through app.auction:      {rate:>12,.0f} events/s")
    print(f"replay costs {floor / rate:.1f}x the floor; target 200,000/s: ", end="")
    print("met" if rate >= 200_000 else "NOT met")


if __name__ == "__main__":
    main()
