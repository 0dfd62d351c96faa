"""Exports built in memory from events the real rules decide, for the tests with no database."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app import auction
from app.audit import chain, encoding
from app.audit.keys import LogSigner
from app.audit.notes import CheckpointSigner

START = datetime(2026, 11, 25, 1, 0, tzinfo=UTC)
ORIGIN = "village-auction/test"


def new_signer(origin: str = ORIGIN) -> CheckpointSigner:
    return CheckpointSigner(origin, LogSigner(Ed25519PrivateKey.generate()))


def timed_lot(bids: int, start: datetime = START) -> list[auction.Event]:
    """A timed lot: two bidders outbid each other ``bids`` times, then an official closes it."""
    state: auction.LotState | None = None
    events: list[auction.Event] = []
    now = start

    def do(command: Any) -> None:
        nonlocal state
        for event in auction.decide(state, command, now):
            state = auction.apply(state, event)
            events.append(event)

    do(auction.CreateLot("timed", {"start_price_fen": 100_000, "step_fen": 1_000}))
    do(auction.Publish())
    do(auction.QualifyBidder("A01"))
    do(auction.QualifyBidder("B02"))
    do(auction.OpenLot())
    for number in range(bids):
        now += timedelta(seconds=7)
        do(auction.PlaceBid(("A01", "B02")[number % 2], 100_000 + 1_000 * number))
    do(auction.CloseEarly("测试到此结束 the test ends here"))
    return events


def interleave(lots: list[list[auction.Event]]) -> list[dict[str, Any]]:
    """The events of several lots, one of each in turn, numbered as the log would number them."""
    rows: list[dict[str, Any]] = []
    for turn in range(max(len(events) for events in lots)):
        for lot_id, events in enumerate(lots, start=1):
            if turn < len(events):
                event = events[turn]
                rows.append(
                    {
                        "lot_id": lot_id,
                        "lot_seq": turn + 1,
                        "type": event.type,
                        "at": auction.format_time(event.at),
                        "actor": "user:7",
                        "data": event.data,
                    }
                )
    for seq, row in enumerate(rows, start=1):
        row["seq"] = seq
    return rows


def export_lines(rows: list[dict[str, Any]], signer: CheckpointSigner) -> list[bytes]:
    """A complete log export of ``rows``: hashes and lot links computed, checkpoint signed."""
    prev_hash, lot_heads = chain.GENESIS_HASH, {}
    lines = []
    for row in rows:
        lot_prev_hash = lot_heads.get(row["lot_id"], chain.GENESIS_HASH)
        body = chain.record_body(**{**row, "lot_prev_hash": lot_prev_hash})
        digest = chain.link_hash(prev_hash, body)
        line = encoding.event_line(
            **{k: v for k, v in body.items() if k != "data"},
            data_json=chain.canonical_json(row["data"]).decode(),
            prev_hash=prev_hash,
            hash=digest,
        )
        lines.append(line.encode())
        prev_hash = lot_heads[row["lot_id"]] = digest
    key = signer.signer.public_key_b64
    header = encoding.log_header(
        origin=signer.origin,
        public_key=key,
        after=0,
        after_hash=chain.GENESIS_HASH,
        until=len(rows),
        exported_at="2026-11-25T12:00:00.000000Z",
    )
    checkpoint = signer.sign(len(rows), prev_hash).as_json(key, "2026-11-25T12:00:00.000000Z")
    return [
        encoding.json_line(header).encode(),
        *lines,
        encoding.json_line({"kind": "checkpoint", **checkpoint}).encode(),
    ]


def rows_of(lines: list[bytes]) -> list[dict[str, Any]]:
    """The event fields of an export's lines, to edit and write out again with export_lines."""
    rows = []
    for line in lines[1:-1]:
        event = json.loads(line)
        rows.append(
            {k: event[k] for k in ("seq", "lot_id", "lot_seq", "type", "at", "actor", "data")}
        )
    return rows
