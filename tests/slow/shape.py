"""The production shape for slow tests: app processes on PostgreSQL behind a real nginx, a lot
set up through it, and bidders who bid through it recording every answer."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import Role
from app.audit.models import EventRecord
from app.config import Settings
from tests.factories import (
    TIMED_LOT,
    Person,
    approve_bidder,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.servers import Server
from tests.slow.nginx import Nginx

STEP = TIMED_LOT["rules"]["step_fen"]
START = TIMED_LOT["rules"]["start_price_fen"]
_keys = itertools.count()


@dataclass
class Shape:
    servers: list[Server]
    nginx: Nginx

    @property
    def url(self) -> str:
        return self.nginx.url


@asynccontextmanager
async def production_shape(
    settings: Settings, workdir: Path, env: dict[str, str], processes: int = 2
) -> AsyncIterator[Shape]:
    """``processes`` app servers (with settings ``env``) behind nginx (deploy/nginx.conf);
    all stopped at the end."""
    servers: list[Server] = []
    nginx: Nginx | None = None
    try:
        for _ in range(processes):
            servers.append(await asyncio.to_thread(Server(settings, workdir, **env).start))
        nginx = await asyncio.to_thread(Nginx([s.port for s in servers], workdir / "nginx").start)
        yield Shape(servers, nginx)
    finally:
        if nginx is not None:
            nginx.stop()
        for server in servers:
            server.stop()


async def open_lot(
    url: str, maker: async_sessionmaker[AsyncSession], bidders: int, countdown_s: int
) -> tuple[int, list[Person]]:
    """A timed lot, opened, with ``bidders`` approved bidders; made through ``url``."""
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
        rules = {**TIMED_LOT["rules"], "countdown_s": countdown_s}
        lot_id = (await create_lot(client, official, {**TIMED_LOT, "rules": rules}))["id"]
        await lifecycle(client, lot_id, official, "publish")
        people = [await make_person(client, maker, Role.BIDDER) for _ in range(bidders)]
        for person in people:
            await approve_bidder(client, lot_id, official, person)
        await lifecycle(client, lot_id, official, "open")
    return lot_id, people


@dataclass
class Bidding:
    """What bidders were told: every receipt, and how many answers of each status."""

    receipts: list[dict[str, Any]] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    codes: Counter[str] = field(default_factory=Counter)
    """Refusals by their problem+json code (``bid_too_low``, ...)."""
    failures: Counter[str] = field(default_factory=Counter)
    """Requests that got no HTTP answer, by exception type."""
    attempts: int = 0


async def bid_once(
    client: httpx.AsyncClient,
    lot_id: int,
    person: Person,
    amount: int,
    bidding: Bidding,
    key: str | None = None,
) -> httpx.Response | None:
    """One bid; the response, or None if the request got no answer (recorded either way)."""
    bidding.attempts += 1
    key = key or f"{person.username}-{next(_keys)}"
    try:
        response = await client.post(
            f"/api/lots/{lot_id}/bids",
            json={"amount_fen": amount},
            headers={**person.headers, "Idempotency-Key": key},
        )
    except httpx.HTTPError as exc:
        bidding.failures[type(exc).__name__] += 1
        return None
    bidding.statuses[response.status_code] += 1
    if response.status_code == 201:
        bidding.receipts.append(response.json())
    elif response.headers.get("content-type") == "application/problem+json":
        bidding.codes[response.json().get("code")] += 1
    return response


def next_amount(response: httpx.Response | None, price: int) -> int:
    """The next bid after this answer: one step over the price it reports."""
    if response is None:
        return price
    answer = response.json() if response.headers.get("content-type", "").endswith("json") else {}
    reported = answer.get("amount_fen") if response.status_code == 201 else None
    reported = reported or answer.get("current_price_fen")
    return max(price, reported or price)


async def bid_until(
    url: str,
    lot_id: int,
    person: Person,
    stop: asyncio.Event,
    bidding: Bidding,
    pause_s: float,
) -> None:
    """Outbid the lot's price, again and again, over one keep-alive client, until ``stop``."""
    price = START - STEP
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        while not stop.is_set():
            response = await bid_once(client, lot_id, person, price + STEP, bidding)
            price = next_amount(response, price)
            await asyncio.sleep(pause_s)


async def bid_events(maker: async_sessionmaker[AsyncSession], lot_ids: list[int]) -> list[str]:
    """The hashes of every ``bid_placed`` event of these lots in the log."""
    async with maker() as session:
        rows = await session.execute(
            select(EventRecord.hash).where(
                EventRecord.lot_id.in_(lot_ids), EventRecord.type == "bid_placed"
            )
        )
        return list(rows.scalars())


@dataclass(frozen=True)
class Usage:
    rss: int
    fds: int

    def __str__(self) -> str:
        return f"RSS {self.rss / 2**20:.1f} MiB, {self.fds} fds"


def usage(server: Server) -> Usage:
    """The resident memory and open file descriptors of an app process (from /proc)."""
    assert server.process is not None
    process = psutil.Process(server.process.pid)
    return Usage(process.memory_info().rss, process.num_fds())
