"""A million-event log streams out in bounded memory, and the download verifies in full."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest
from fastapi import FastAPI
from sqlalchemy import insert, update

from app import auction
from app.accounts.models import Role
from app.audit import chain
from app.audit.models import EventRecord, LogHead
from app.audit.verifier import check_log
from app.lots.models import Lot
from tests.factories import make_person, make_village

EVENTS = 1_000_000
LOTS = 1_000
INSERT_BATCH = 20_000
MAX_GROWTH_MB = 64
"""The export is ~450 MB; the server may grow by this much at most while streaming it."""


def lot_events(bids: int, start: datetime) -> Iterator[auction.Event]:
    """A timed lot decided by the rules: two bidders outbid each other, then it closes."""
    state: auction.LotState | None = None
    now = start
    commands: list[Any] = [
        auction.CreateLot("timed", {"start_price_fen": 100_000, "step_fen": 1_000}),
        auction.Publish(),
        auction.QualifyBidder("A01"),
        auction.QualifyBidder("B02"),
        auction.OpenLot(),
        *(auction.PlaceBid(("A01", "B02")[n % 2], 100_000 + 1_000 * n) for n in range(bids)),
        auction.CloseEarly("测试结束"),
    ]
    for command in commands:
        now += timedelta(seconds=3)
        for event in auction.decide(state, command, now):
            state = auction.apply(state, event)
            yield event


def event_rows(lot_ids: list[int]) -> Iterator[dict[str, Any]]:
    """EVENTS rows, lot after lot, chained exactly as the service chains them."""
    per_lot = EVENTS // len(lot_ids) - 7  # 7 events around the bids of each lot
    seq, prev_hash = 0, chain.GENESIS_HASH
    start = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
    for lot_id in lot_ids:
        lot_prev_hash = chain.GENESIS_HASH
        for lot_seq, event in enumerate(lot_events(per_lot, start), start=1):
            seq += 1
            at = auction.format_time(event.at)
            body = chain.record_body(
                seq=seq,
                lot_id=lot_id,
                lot_seq=lot_seq,
                lot_prev_hash=lot_prev_hash,
                type=event.type,
                at=at,
                actor="user:1",
                data=event.data,
            )
            digest = chain.link_hash(prev_hash, body)
            yield {
                **{k: v for k, v in body.items() if k != "data"},
                "at": event.at,
                "payload": chain.canonical_json(event.data).decode(),
                "prev_hash": prev_hash,
                "hash": digest,
            }
            prev_hash = lot_prev_hash = digest


async def fill_log(app: FastAPI, client: httpx.AsyncClient) -> int:
    maker = app.state.sessionmaker
    village_id = await make_village(maker)
    official = await make_person(client, maker, Role.OFFICIAL, village_id)
    async with maker() as session, session.begin():
        lots = [
            Lot(
                village_id=village_id,
                created_by=official.id,
                title=f"lot {n}",
                asset_kind="market",
                lease_term_months=12,
                format="timed",
                rules={},
            )
            for n in range(LOTS)
        ]
        session.add_all(lots)
        await session.flush()
        lot_ids = [lot.id for lot in lots]
    batch: list[dict[str, Any]] = []
    last: dict[str, Any] = {}
    for row in event_rows(lot_ids):
        batch.append(row)
        if len(batch) == INSERT_BATCH:
            async with maker() as session, session.begin():
                await session.execute(insert(EventRecord), batch)
            last, batch = batch[-1], []
    if batch:
        async with maker() as session, session.begin():
            await session.execute(insert(EventRecord), batch)
        last = batch[-1]
    async with maker() as session, session.begin():
        await session.execute(update(LogHead).values(seq=last["seq"], hash=last["hash"]))
    return int(last["seq"])


async def stream_to_file(app: FastAPI, token: str, target: Path) -> tuple[int, int]:
    """Call the app as a server would and write the body as it comes; returns the peak RSS
    growth during the download and the number of chunks."""
    process = psutil.Process()
    baseline = peak = process.memory_info().rss
    chunks = 0
    done = asyncio.Event()
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": "/api/audit/log.ndjson",
        "raw_path": b"/api/audit/log.ndjson",
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"authorization", f"Bearer {token}".encode())],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()
        return {"type": "http.disconnect"}

    with target.open("wb") as file:

        async def send(message: dict[str, Any]) -> None:
            nonlocal peak, chunks
            if message["type"] == "http.response.start":
                assert message["status"] == 200
            elif message["type"] == "http.response.body":
                file.write(message.get("body", b""))
                chunks += 1
                peak = max(peak, process.memory_info().rss)
                if not message.get("more_body", False):
                    done.set()

        await app(scope, receive, send)
    return peak - baseline, chunks


@pytest.mark.slow
async def test_a_million_event_export_streams_in_bounded_memory_and_verifies(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    began = time.perf_counter()
    size = await fill_log(app, client)
    filled = time.perf_counter()
    auditor = await make_person(client, app.state.sessionmaker, Role.AUDITOR)
    target = tmp_path / "log.ndjson"

    growth, chunks = await stream_to_file(app, auditor.token, target)
    streamed = time.perf_counter()
    with target.open("rb") as file:
        report = check_log(iter(file))
    verified = time.perf_counter()

    megabytes = target.stat().st_size / 1e6
    sys.stderr.write(
        f"\n{app.state.engine.dialect.name}: {size:,} events inserted in {filled - began:.0f} s; "
        f"export of {megabytes:,.0f} MB in {chunks:,} chunks streamed in {streamed - filled:.1f} s "
        f"with peak RSS growth {growth / 1e6:.1f} MB; verified in {verified - streamed:.1f} s\n"
    )
    assert size == EVENTS
    assert report.events == EVENTS
    assert report.lots_closed == LOTS
    assert growth < MAX_GROWTH_MB * 1e6, f"memory grew by {growth / 1e6:.0f} MB"
