"""Verify a generated log of 1,000,000 events across 1,000 lots; report events/s per stage."""

from __future__ import annotations

import argparse
import gc
import heapq
import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app import auction
from app.audit import chain, encoding
from app.audit.keys import LogSigner
from app.audit.notes import CheckpointSigner
from app.audit.verifier import check_log

# The log is written the way the service writes it: every lot driven through decide() (timed,
# sequential and sealed lots, some with priority holders), lots running concurrently in groups,
# each event chained with app/audit/chain.py and exported with app/audit/encoding.py.

START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
GROUP = 50
"""Lots that run at the same time, so their events interleave in the log."""

Row = tuple[datetime, int, int, auction.Event, str]
"""(time, lot, order within the lot, event, actor)."""


class LotDriver:
    """Drives one lot through decide() as the service would, keeping events and actors."""

    def __init__(self, lot: int, now: datetime, rng: random.Random) -> None:
        self.lot, self.now, self.rng = lot, now, rng
        self.state: auction.LotState | None = None
        self.rows: list[Row] = []

    def do(self, command: Any, actor: str = "user:1") -> None:
        for event in auction.decide(self.state, command, self.now):
            self.state = auction.apply(self.state, event)
            self.rows.append((event.at, self.lot, len(self.rows), event, actor))

    def wait(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)

    def tick(self) -> None:
        deadline = auction.next_deadline(self.state)
        assert deadline is not None
        self.now = max(self.now, deadline)
        self.do(auction.Tick(), "system")

    def finish(self) -> None:
        """Close early if still open, then let priority holders decide or run out of time."""
        state = self.state
        assert state is not None
        if state.status == "open" and state.phase not in ("ended", "priority"):
            self.do(auction.CloseEarly("the benchmark has enough events"))
        while self.state is not None and self.state.status == "open":
            if self.state.phase == "priority" and self.rng.random() < 0.5:
                holder = self.state.turn
                assert holder is not None
                self.do(auction.PriorityDecision(holder, self.rng.random() < 0.5), "user:9")
            else:
                self.tick()

    def qualify(
        self, count: int, initial: Callable[[], int | None], priority_share: float = 0.2
    ) -> list[str]:
        numbers = [f"{chr(65 + n % 26)}{n:02d}" for n in self.rng.sample(range(1, 99), count)]
        for index, number in enumerate(numbers):
            priority = index == 0 and self.rng.random() < priority_share
            self.do(auction.QualifyBidder(number, priority, initial()))
        return numbers


def timed_lot(lot: LotDriver, target: int, exact: bool = False) -> None:
    """Bids until ``target`` events; ``exact``: no priority holder, so it closes at target + 2."""
    rules = {"start_price_fen": 500_000, "step_fen": 10_000, "free_period_s": 600}
    lot.do(auction.CreateLot("timed", rules | {"reserve_price_fen": 2_000_000}))
    lot.do(auction.Publish())
    bidders = lot.qualify(lot.rng.randint(3, 12), lambda: None, 0.0 if exact else 0.2)
    lot.do(auction.OpenLot())
    while len(lot.rows) < target:
        lot.wait(lot.rng.uniform(1, 60))
        state = lot.state
        assert state is not None
        if state.phase == "free" and state.deadline and lot.now >= state.deadline:
            lot.tick()  # the free period is over: the timed period starts
            continue
        price = state.current_price_fen
        amount = 500_000 if price is None else price + 10_000 * lot.rng.choice([1, 1, 2, 5])
        bidder = lot.rng.choice([b for b in bidders if b != state.leader])
        lot.do(auction.PlaceBid(bidder, amount), f"user:{100 + bidders.index(bidder)}")
    lot.finish()


def sequential_lot(lot: LotDriver, target: int) -> None:
    rules = {"start_price_fen": 100_000, "step_fen": 1_000, "rounds": 50}
    lot.do(auction.CreateLot("sequential", rules))
    lot.do(auction.Publish())
    lot.qualify(lot.rng.randint(3, 10), lambda: 100_000 + 1_000 * lot.rng.randint(0, 50))
    lot.do(auction.OpenLot())
    while lot.state is not None and lot.state.status == "open" and len(lot.rows) < target:
        state = lot.state
        if state.phase != "turn":
            lot.tick()
            continue
        assert state.turn is not None
        assert state.current_price_fen is not None
        lot.wait(lot.rng.uniform(1, 60))
        if lot.rng.random() < 0.6:
            raise_fen = 1_000 * lot.rng.randint(1, 5)
            lot.do(auction.PlaceBid(state.turn, state.current_price_fen + raise_fen))
        lot.do(auction.Keep(state.turn)) if lot.rng.random() < 0.7 else lot.tick()
    lot.finish()


def sealed_lot(lot: LotDriver, target: int) -> None:
    lot.do(
        auction.CreateLot("sealed", {"start_price_fen": 300_000, "step_fen": 5_000, "rounds": 50})
    )
    lot.do(auction.Publish())
    bidders = lot.qualify(lot.rng.randint(5, 30), lambda: None)
    lot.do(auction.OpenLot())
    while lot.state is not None and lot.state.status == "open" and len(lot.rows) < target:
        floor = (lot.state.current_price_fen or 295_000) + 5_000
        for bidder in bidders:
            if lot.rng.random() < 0.8:
                lot.wait(lot.rng.uniform(1, 10))
                try:
                    lot.do(auction.PlaceBid(bidder, floor + 5_000 * lot.rng.randint(0, 10)))
                except auction.RuleViolation:
                    pass  # dropped out in an earlier round
        lot.tick()
    lot.finish()


def generate(path: Path, events: int, lots: int, seed: int, signer: CheckpointSigner) -> int:
    """Write a log export of about ``events`` events in ``lots`` lots; returns the count."""
    rng = random.Random(seed)
    makers = [timed_lot] * 7 + [sequential_lot] * 2 + [sealed_lot]
    seq, prev_hash, planned = 0, chain.GENESIS_HASH, 0
    body = path.with_suffix(".events")
    with body.open("wb") as file:
        for first in range(1, lots + 1, GROUP):
            group = []
            for lot_id in range(first, min(first + GROUP, lots + 1)):
                driver = LotDriver(lot_id, START + timedelta(minutes=rng.randint(0, 600)), rng)
                share = (events - planned) // (lots - lot_id + 1)
                if lot_id == lots:  # the last lot makes the count exact
                    timed_lot(driver, events - planned - 2, exact=True)
                else:
                    rng.choice(makers)(driver, rng.randint(share // 2, share * 3 // 2))
                planned += len(driver.rows)
                group.append(driver.rows)
            seq, prev_hash = _write_group(file, heapq.merge(*group), seq, prev_hash)
    header = encoding.log_header(
        origin=signer.origin,
        public_key=signer.signer.public_key_b64,
        after=0,
        after_hash=chain.GENESIS_HASH,
        until=seq,
        exported_at=auction.format_time(datetime.now(UTC)),
    )
    checkpoint = signer.sign(seq, prev_hash).as_json(signer.signer.public_key_b64, None)
    with path.open("wb") as file, body.open("rb") as events_file:
        file.write(encoding.json_line(header).encode())
        shutil.copyfileobj(events_file, file, 1 << 20)
        file.write(encoding.json_line({"kind": "checkpoint", **checkpoint}).encode())
    body.unlink()
    return seq


def _write_group(file: Any, rows: Iterator[Row], seq: int, prev_hash: str) -> tuple[int, str]:
    lot_heads: dict[int, tuple[int, str]] = {}
    out = []
    for at, lot_id, _, event, actor in rows:
        seq += 1
        lot_seq, lot_prev = lot_heads.get(lot_id, (0, chain.GENESIS_HASH))
        body = chain.record_body(
            seq=seq,
            lot_id=lot_id,
            lot_seq=lot_seq + 1,
            lot_prev_hash=lot_prev,
            type=event.type,
            at=auction.format_time(at),
            actor=actor,
            data=event.data,
        )
        digest = chain.link_hash(prev_hash, body)
        fields = {k: v for k, v in body.items() if k != "data"}
        data_json = chain.canonical_json(event.data).decode()
        out.append(
            encoding.event_line(**fields, data_json=data_json, prev_hash=prev_hash, hash=digest)
        )
        lot_heads[lot_id] = (lot_seq + 1, digest)
        prev_hash = digest
    file.write("".join(out).encode())
    return seq, prev_hash


def timed(label: str, count: int, run: Callable[[], object], repeat: int, floor: float) -> float:
    """Run ``repeat`` times; print the best CPU time (one core) and its wall-clock time."""
    best_cpu, best_wall = float("inf"), float("inf")
    for _ in range(repeat):
        gc.collect()
        cpu, wall = time.process_time(), time.perf_counter()
        run()
        best_cpu = min(best_cpu, time.process_time() - cpu)
        best_wall = min(best_wall, time.perf_counter() - wall)
    versus = f"{best_cpu / floor:5.1f}x" if floor else "  1.0x"
    print(
        f"{label:<36}{best_cpu:7.2f} s cpu {best_wall:7.2f} s wall "
        f"{count / best_cpu:>10,.0f} events/s {versus}"
    )
    return best_cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--lots", type=int, default=1_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each; the best counts")
    parser.add_argument("--keep", type=Path, help="also keep the generated log at this path")
    args = parser.parse_args()

    signer = CheckpointSigner("village-auction/bench", LogSigner(Ed25519PrivateKey.generate()))
    with tempfile.TemporaryDirectory() as directory:
        path = args.keep or Path(directory) / "log.ndjson"
        began = time.perf_counter()
        count = generate(path, args.events, args.lots, args.seed, signer)
        size = os.path.getsize(path)
        print(f"log: {count:,} events in {args.lots:,} lots, {size / 1e6:,.0f} MB")
        print(f"     generated through decide() and chained in {time.perf_counter() - began:.1f} s")

        def read_json() -> None:
            with path.open("rb") as file:
                for line in file:
                    json.loads(line)

        def verify(replay: bool) -> None:
            with path.open("rb") as file:
                report = check_log(iter(file), replay=replay)
            assert report.events == count

        print(f"best of {args.repeat} runs; the last column compares with json.loads")
        floor = timed("baseline: json.loads of every line", count, read_json, args.repeat, 0)
        timed("hash chain + links + signature", count, lambda: verify(False), args.repeat, floor)
        full = timed(
            "full: chain + replay of every lot", count, lambda: verify(True), args.repeat, floor
        )
        verdict = "met" if full < 10 * count / 1_000_000 else "NOT met"
        print(f"target (1,000,000 events fully verified in under 10 s on one core): {verdict}")


if __name__ == "__main__":
    main()
