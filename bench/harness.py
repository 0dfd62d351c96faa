"""What both benchmarks share: fresh databases, real servers in child processes, a lot with
approved bidders set up through the API, the machine's description, tables and JSON output."""

from __future__ import annotations

import asyncio
import json
import math
import os
import platform
import sqlite3
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeAlias

import httpx
import psutil

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # the benchmarks reuse the test suite's servers and factories
    sys.path.insert(0, str(REPO))

from app.accounts.models import Role  # noqa: E402
from app.accounts.security import configure_password_hashing  # noqa: E402
from app.config import Settings  # noqa: E402
from app.db import create_engine, create_sessionmaker  # noqa: E402
from tests import factories  # noqa: E402
from tests.databases import PostgresDatabases, SQLiteDatabases  # noqa: E402
from tests.servers import Server, free_port  # noqa: E402

POSTGRES_SERVER = os.environ.get(
    "AUCTION_TEST_DATABASE_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "benchmark-secret-key-not-for-production-0123456789"
BACKENDS = ("sqlite", "postgresql")

Databases: TypeAlias = SQLiteDatabases | PostgresDatabases


# ---------------------------------------------------------------------------------------------
# Databases and servers


async def new_database(backend: str, workdir: Path) -> tuple[Databases, str]:
    """A freshly migrated database: a file under ``workdir`` or a PostgreSQL database."""
    databases: Databases
    if backend == "sqlite":
        databases = SQLiteDatabases(workdir)
    else:
        databases = PostgresDatabases(POSTGRES_SERVER)
    await databases.start()
    return databases, await databases.create()


def app_settings(database_url: str, data_dir: Path) -> Settings:
    return Settings(
        env="test",
        secret_key=SECRET,
        database_url=database_url,
        data_dir=data_dir,
        log_level="warning",
        # Setup only: cheap hashes make 64 bidders quick to create; bids do not hash passwords.
        argon2_time_cost=1,
        argon2_memory_kib=64,
        login_attempts_per_minute=100_000,
    )


def unthrottled_env() -> dict[str, str]:
    """Raise the per-bidder and per-address bid rate limits (if this version of the app has
    them): every benchmark client comes from 127.0.0.1 and bids as fast as it can."""
    env = {}
    for name in ("bids_per_second_per_user", "bids_per_second_per_address"):
        if name in Settings.model_fields:
            env[f"AUCTION_{name.upper()}"] = "1000000"
    return env


class AppServer:
    """``python -m app serve`` (uvicorn, one process) through the test suite's launcher."""

    def __init__(self, settings: Settings, log_dir: Path, **env: str) -> None:
        self.server = Server(settings, log_dir, **{**unthrottled_env(), **env})
        self.port = self.server.port
        self.url = self.server.url

    def start(self) -> AppServer:
        self.server.start(timeout_s=60)
        return self

    @property
    def pid(self) -> int:
        assert self.server.process is not None
        return int(self.server.process.pid)

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def stop(self) -> None:
        self.server.stop()


class BaselineServer:
    """One of the tiny comparison apps of ``bench/baseline_apps.py``, served by uvicorn with the
    same settings as the real app (``app.cli._serve``)."""

    def __init__(self, kind: str, log_dir: Path) -> None:
        self.kind = kind
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_dir / f"{kind}-{self.port}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> BaselineServer:
        log = self.log_path.open("ab")
        script = Path(__file__).with_name("baseline_apps.py")
        self.process = subprocess.Popen(
            [sys.executable, str(script), self.kind, "--port", str(self.port)],
            stdout=log,
            stderr=log,
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} app exited: {self.log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{self.kind} app not ready")

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def rss(self) -> int:
        return int(psutil.Process(self.pid).memory_info().rss)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


# ---------------------------------------------------------------------------------------------
# A lot, open for bidding, with approved bidders (through the API, as the tests do)

STEP_FEN: int = factories.TIMED_LOT["rules"]["step_fen"]
START_FEN: int = factories.TIMED_LOT["rules"]["start_price_fen"]


@dataclass(frozen=True)
class Bidder:
    user_id: int
    token: str
    number: str


@dataclass(frozen=True)
class OpenLot:
    lot_id: int
    bidders: list[Bidder]


async def open_lot(base_url: str, settings: Settings, bidders: int) -> OpenLot:
    """A timed lot with a one-hour countdown (no soft close during a run), open, with
    ``bidders`` approved bidders; every step goes through the real server's API."""
    configure_password_hashing(settings.argon2_time_cost, settings.argon2_memory_kib)
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    try:
        async with httpx.AsyncClient(base_url=base_url, timeout=60) as client:
            village = await factories.make_village(maker)
            official = await factories.make_person(client, maker, Role.OFFICIAL, village)
            rules = {**factories.TIMED_LOT["rules"], "countdown_s": 3600}
            body = {**factories.TIMED_LOT, "rules": rules}
            lot = await factories.create_lot(client, official, body)
            await factories.lifecycle(client, lot["id"], official, "publish")
            people = []
            for _ in range(bidders):
                person = await factories.make_person(client, maker, Role.BIDDER)
                number = await factories.approve_bidder(client, lot["id"], official, person)
                people.append(Bidder(person.id, person.token, number))
            await factories.lifecycle(client, lot["id"], official, "open")
    finally:
        await engine.dispose()
    return OpenLot(lot["id"], people)


def setup_lot(base_url: str, settings: Settings, bidders: int) -> OpenLot:
    return asyncio.run(open_lot(base_url, settings, bidders))


# ---------------------------------------------------------------------------------------------
# The machine, tables, JSON


def machine() -> dict[str, Any]:
    model = ""
    with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
        for line in cpuinfo:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    commit = subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    dirty = subprocess.run(
        ["git", "-C", str(REPO), "status", "--porcelain", "--", "app"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    import fastapi
    import uvicorn

    return {
        "cpu": model,
        "cores": psutil.cpu_count(logical=True),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
        "kernel": platform.release(),
        "python": platform.python_version(),
        "uvicorn": uvicorn.__version__,
        "fastapi": fastapi.__version__,
        "sqlite": sqlite3.sqlite_version,
        "commit": commit + ("+dirty" if dirty else ""),
    }


def describe_machine(info: dict[str, Any]) -> str:
    return (
        f"{info['cpu']} x{info['cores']}, {info['memory_gib']} GiB, Linux {info['kernel']}, "
        f"Python {info['python']}, uvicorn {info['uvicorn']}, SQLite {info['sqlite']}, "
        f"commit {info['commit']}, load average at start {info['load_average_at_start']}"
    )


def fmt(value: float | int | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    if isinstance(value, int) or digits == 0:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], text_columns: int = 1) -> str:
    """A plain text table: the first ``text_columns`` left-aligned, the numbers right-aligned."""
    widths = [max(len(str(c)) for c in column) for column in zip(headers, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        out = []
        for index, (cell, width) in enumerate(zip(cells, widths, strict=True)):
            text = str(cell)
            out.append(text.ljust(width) if index < text_columns else text.rjust(width))
        return "  ".join(out).rstrip()

    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _json_safe(value: Any) -> Any:
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return None
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    return value


def write_json(path: Path, data: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_json_safe(data), indent=2, ensure_ascii=False) + "\n")
