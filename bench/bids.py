"""Bid throughput and latency on one hot lot, against a real uvicorn server, on SQLite and on
PostgreSQL, side by side with two baselines measured in the same run on the same machine:

- ``db driver``: the statements of one bid straight over aiosqlite/asyncpg (bench/db_loop.py),
  the database's limit;
- ``framework``: a bare FastAPI endpoint doing one in-memory write (bench/baseline_apps.py),
  the web layer's limit.

Each bidder is one keep-alive connection that loops: bid the current price + one step; on a
refusal (bid_too_low, already_leading) take ``current_price_fen`` from the answer and go on.
Figures cover the attempts started in the measuring window, after a warm-up.

    .venv/bin/python bench/bids.py                      # both backends, 8/16/64 bidders
    .venv/bin/python bench/bids.py --quick              # 16 bidders, short: a smoke check
    .venv/bin/python bench/bids.py --backend sqlite --bidders 16 --repeat 2 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import math
import shutil
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from db_loop import DbJob, db_worker
from harness import (
    BACKENDS,
    START_FEN,
    STEP_FEN,
    AppServer,
    BaselineServer,
    OpenLot,
    app_settings,
    describe_machine,
    fmt,
    machine,
    new_database,
    setup_lot,
    table,
    write_json,
)
from loadgen import (
    BidderJob,
    BidderResult,
    CpuMeter,
    Workers,
    bidder_worker,
    latency_summary,
    raise_nofile_limit,
    sleep_until,
    spawn,
)

TARGETS = {"sqlite": 1500.0, "postgresql": 1000.0}
TARGET_P99_MS = 50.0
TARGET_BIDDERS = 16


@dataclass
class Measurement:
    system: str
    backend: str
    bidders: int
    duration_s: float
    attempts: int = 0
    accepted: int = 0
    latency: dict[str, float] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)
    codes: dict[str, int] = field(default_factory=dict)
    transport_errors: int = 0
    server_cpu_pct: float = math.nan
    client_cpu_pct: float = math.nan
    client_cpu_max_pct: float = math.nan
    """The busiest load process; near 100 % would mean the client limits the figures."""
    client_processes: int = 0

    @property
    def attempts_per_s(self) -> float:
        return self.attempts / self.duration_s

    @property
    def accepted_per_s(self) -> float:
        return self.accepted / self.duration_s

    @property
    def server_cpu_ms_per_attempt(self) -> float:
        """Server CPU per bid attempt: much less sensitive to a busy machine than the rates."""
        if not self.attempts:
            return math.nan
        return self.server_cpu_pct / 100 * self.duration_s / self.attempts * 1000

    @property
    def server_errors(self) -> int:
        return sum(n for status, n in self.statuses.items() if status.startswith("5"))

    def as_json(self) -> dict[str, Any]:
        return {
            **self.__dict__,
            "attempts_per_s": self.attempts_per_s,
            "accepted_per_s": self.accepted_per_s,
            "server_errors": self.server_errors,
            "server_cpu_ms_per_attempt": self.server_cpu_ms_per_attempt,
        }


def _merge(results: list[BidderResult]) -> tuple[list[float], Counter[int], Counter[str], int]:
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    codes: Counter[str] = Counter()
    errors = 0
    for result in results:
        latencies.extend(result.latencies)
        statuses.update(result.statuses)
        codes.update(result.codes)
        errors += result.transport_errors
    return latencies, statuses, codes, errors


def _timed(
    workers: Workers, server_pid: int | None, warmup_s: float, duration_s: float
) -> tuple[list[BidderResult], float, list[float]]:
    """Start the workers' window, measure CPU over it, collect their results."""
    workers.receive(timeout_s=120)  # all connected and ready
    measure_from = time.monotonic() + warmup_s
    stop_at = measure_from + duration_s
    workers.send((measure_from, stop_at))
    sleep_until(measure_from)
    server_meter = CpuMeter([server_pid]) if server_pid else None
    client_meter = CpuMeter(workers.pids)
    sleep_until(stop_at)
    server_cpu = server_meter.percent()[0] if server_meter else math.nan
    client_cpu = client_meter.percent()
    results = workers.receive(timeout_s=60)
    workers.join()
    return results, server_cpu, client_cpu


def _measurement(
    system: str,
    backend: str,
    bidders: int,
    duration_s: float,
    results: list[BidderResult],
    server_cpu: float,
    client_cpu: list[float],
) -> Measurement:
    latencies, statuses, codes, errors = _merge(results)
    return Measurement(
        system=system,
        backend=backend,
        bidders=bidders,
        duration_s=duration_s,
        attempts=len(latencies),
        accepted=statuses[201],
        latency=latency_summary(latencies),
        statuses={str(k): v for k, v in sorted(statuses.items())},
        codes=dict(codes.most_common()),
        transport_errors=errors,
        server_cpu_pct=server_cpu,
        client_cpu_pct=sum(client_cpu),
        client_cpu_max_pct=max(client_cpu) if client_cpu else math.nan,
        client_processes=len(client_cpu),
    )


def run_http(
    system: str,
    backend: str,
    port: int,
    server_pid: int,
    lot_id: int,
    tokens: list[str],
    args: argparse.Namespace,
) -> Measurement:
    """``len(tokens)`` bidders spread over up to ``--client-procs`` load processes."""
    procs = max(1, min(args.client_procs, len(tokens)))
    prefix = uuid.uuid4().hex[:8]
    jobs = [
        BidderJob("127.0.0.1", port, lot_id, tokens[n::procs], START_FEN, STEP_FEN, f"{prefix}{n}")
        for n in range(procs)
    ]
    results, server_cpu, client_cpu = _timed(
        spawn(bidder_worker, jobs), server_pid, args.warmup, args.duration
    )
    return _measurement(
        system, backend, len(tokens), args.duration, results, server_cpu, client_cpu
    )


def run_db(
    backend: str, url: str, lot: OpenLot, bidders: int, args: argparse.Namespace
) -> Measurement:
    job = DbJob(
        backend=backend,
        database_url=url,
        lot_id=lot.lot_id,
        bidders=[(b.user_id, b.number) for b in lot.bidders],
        concurrency=bidders,
        step_fen=STEP_FEN,
        key_prefix=f"db-{uuid.uuid4().hex[:8]}",
    )
    # The driver loop is its own server: its process's CPU is the server CPU.
    results, _, cpu = _timed(spawn(db_worker, [job]), None, args.warmup, args.duration)
    return _measurement("db driver", backend, bidders, args.duration, results, cpu[0], [])


def best(runs: list[Measurement]) -> Measurement:
    """The better run (more attempts/s): the machine is shared, noise only slows things."""
    return max(runs, key=lambda m: m.attempts_per_s)


def repeat(
    args: argparse.Namespace, measure: Callable[[], Measurement]
) -> tuple[Measurement, list[Measurement]]:
    runs = [measure() for _ in range(args.repeat)]
    return best(runs), runs


def bench_framework(args: argparse.Namespace, workdir: Path) -> dict[int, Measurement]:
    server = BaselineServer("bare", workdir).start()
    out: dict[int, Measurement] = {}
    try:
        for bidders in args.bidders:
            tokens = [f"token-{n}" for n in range(bidders)]
            measure = partial(run_http, "framework", "-", server.port, server.pid, 1, tokens, args)
            chosen, runs = repeat(args, measure)
            out[bidders] = chosen
            report_progress(chosen, runs)
    finally:
        server.stop()
    return out


def bench_backend(
    backend: str, args: argparse.Namespace, workdir: Path
) -> tuple[dict[int, Measurement], dict[int, Measurement]]:
    databases, url = asyncio.run(new_database(backend, workdir))
    data_dir = workdir / f"data-{backend}"
    data_dir.mkdir()
    settings = app_settings(url, data_dir)
    app_runs: dict[int, Measurement] = {}
    db_runs: dict[int, Measurement] = {}
    try:
        server = AppServer(settings, workdir, **args.server_env).start()
        try:
            lot = setup_lot(server.url, settings, max(args.bidders))
            for bidders in args.bidders:
                tokens = [b.token for b in lot.bidders[:bidders]]
                measure = partial(
                    run_http, "app", backend, server.port, server.pid, lot.lot_id, tokens, args
                )
                chosen, runs = repeat(args, measure)
                app_runs[bidders] = chosen
                report_progress(chosen, runs)
        finally:
            server.stop()
        if not args.skip_db_baseline:
            for bidders in args.bidders:
                chosen, runs = repeat(args, partial(run_db, backend, url, lot, bidders, args))
                db_runs[bidders] = chosen
                report_progress(chosen, runs)
    finally:
        asyncio.run(databases.drop(url))
        asyncio.run(databases.close())
    return app_runs, db_runs


def report_progress(chosen: Measurement, runs: list[Measurement]) -> None:
    rates = ", ".join(fmt(m.attempts_per_s) for m in runs)
    print(
        f"  {chosen.backend:<10} {chosen.bidders:>3} bidders  {chosen.system:<10} "
        f"attempts/s {rates}  p99 {fmt(chosen.latency['p99_ms'], 1)} ms  "
        f"5xx {chosen.server_errors}  server CPU {fmt(chosen.server_cpu_pct)} %  "
        f"client CPU {fmt(chosen.client_cpu_pct)} %",
        flush=True,
    )


def _ratio(a: float, b: float) -> str:
    if not b or math.isnan(a) or math.isnan(b):
        return "-"
    return f"{a / b:.2f}x"


def render(
    backends: list[str],
    bidder_levels: list[int],
    app: dict[tuple[str, int], Measurement],
    db: dict[tuple[str, int], Measurement],
    framework: dict[int, Measurement],
) -> str:
    headers = [
        "backend",
        "bidders",
        "system",
        "attempts/s",
        "accepted/s",
        "p50 ms",
        "p99 ms",
        "5xx",
        "other non-2xx",
        "server CPU %",
        "CPU ms/attempt",
        "client CPU %",
    ]
    rows: list[list[str]] = []

    def row(m: Measurement, label: str) -> list[str]:
        non_2xx = sum(n for s, n in m.statuses.items() if not s.startswith(("2", "5")))
        return [
            m.backend,
            str(m.bidders),
            label,
            fmt(m.attempts_per_s),
            fmt(m.accepted_per_s),
            fmt(m.latency["p50_ms"], 1),
            fmt(m.latency["p99_ms"], 1),
            str(m.server_errors),
            str(non_2xx + m.transport_errors),
            fmt(m.server_cpu_pct),
            fmt(m.server_cpu_ms_per_attempt, 2),
            fmt(m.client_cpu_pct),
        ]

    def ratios(m: Measurement, base: Measurement, backend: str, label: str) -> list[str]:
        return [
            backend,
            str(m.bidders),
            label,
            _ratio(m.attempts_per_s, base.attempts_per_s),
            _ratio(m.accepted_per_s, base.accepted_per_s),
            _ratio(m.latency["p50_ms"], base.latency["p50_ms"]),
            _ratio(m.latency["p99_ms"], base.latency["p99_ms"]),
            "",
            "",
            "",
            _ratio(m.server_cpu_ms_per_attempt, base.server_cpu_ms_per_attempt),
            "",
        ]

    for backend in backends:
        for bidders in bidder_levels:
            mine = app.get((backend, bidders))
            base_db = db.get((backend, bidders))
            base_fw = framework.get(bidders)
            for label, m in (("app", mine), ("db driver", base_db), ("framework", base_fw)):
                if m is not None:
                    cells = row(m, label)
                    cells[0] = backend  # the framework's figure is the same for both backends
                    rows.append(cells)
            if mine is not None and base_db is not None:
                rows.append(ratios(mine, base_db, backend, "app / db"))
            if mine is not None and base_fw is not None:
                rows.append(ratios(mine, base_fw, backend, "app / framework"))
    return table(headers, rows, text_columns=3)


def verdicts(app: dict[tuple[str, int], Measurement], bidder_levels: list[int]) -> list[str]:
    lines = []
    for backend, target in TARGETS.items():
        m = app.get((backend, TARGET_BIDDERS))
        if m is not None:
            ok = m.attempts_per_s >= target and m.latency["p99_ms"] < TARGET_P99_MS
            lines.append(
                f"{backend} at {TARGET_BIDDERS} bidders: {fmt(m.attempts_per_s)} attempts/s "
                f"(target >= {fmt(target)}), p99 {fmt(m.latency['p99_ms'], 1)} ms "
                f"(target < {fmt(TARGET_P99_MS)}): {'MET' if ok else 'MISSED'}"
            )
        top = max(bidder_levels)
        m = app.get((backend, top))
        if m is not None:
            lines.append(
                f"{backend} at {top} bidders: {m.server_errors} responses 5xx "
                f"(target 0): {'MET' if m.server_errors == 0 else 'MISSED'}"
            )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--backend", choices=[*BACKENDS, "both"], default="both")
    parser.add_argument("--bidders", type=int, nargs="+", default=[8, 16, 64])
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds before measuring")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure; the best is kept")
    parser.add_argument("--client-procs", type=int, default=2, help="load generator processes")
    parser.add_argument("--skip-db-baseline", action="store_true")
    parser.add_argument("--skip-framework-baseline", action="store_true")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="AUCTION_X=VALUE",
        help="a setting for the app server (repeatable), e.g. AUCTION_DB_POOL_SIZE=40",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="for SQLite files and logs")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the server logs")
    parser.add_argument("--quick", action="store_true", help="16 bidders, 3 s: under a minute")
    parser.add_argument("--json", type=Path, default=None, help="also write the results here")
    args = parser.parse_args()
    args.server_env = dict(item.split("=", 1) for item in args.server_env)
    if args.quick:
        args.bidders, args.duration, args.warmup, args.repeat = [16], 3.0, 1.0, 1
    return args


def main() -> None:
    args = parse_args()
    raise_nofile_limit()
    backends = list(BACKENDS) if args.backend == "both" else [args.backend]
    info = machine()
    workdir = Path(tempfile.mkdtemp(prefix="bench-bids-", dir=args.workdir))
    started = time.monotonic()
    print(f"machine: {describe_machine(info)}\nworkdir: {workdir}", flush=True)
    app: dict[tuple[str, int], Measurement] = {}
    db: dict[tuple[str, int], Measurement] = {}
    framework: dict[int, Measurement] = {}
    try:
        if not args.skip_framework_baseline:
            framework = bench_framework(args, workdir)
        for backend in backends:
            app_runs, db_runs = bench_backend(backend, args, workdir)
            app.update({(backend, n): m for n, m in app_runs.items()})
            db.update({(backend, n): m for n, m in db_runs.items()})
    finally:
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    print()
    print(render(backends, args.bidders, app, db, framework))
    print()
    for line in verdicts(app, args.bidders):
        print(line)
    print(
        f"\n{args.duration:g} s measured after {args.warmup:g} s of warm-up per figure, "
        f"best of {args.repeat}; total {time.monotonic() - started:.0f} s"
    )
    if args.json:
        write_json(
            args.json,
            {
                "benchmark": "bids",
                "machine": info,
                "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "app": [m.as_json() for m in app.values()],
                "db_driver": [m.as_json() for m in db.values()],
                "framework": [m.as_json() for m in framework.values()],
                "verdicts": verdicts(app, args.bidders),
            },
        )
        print(f"results written to {args.json}")


if __name__ == "__main__":
    main()
