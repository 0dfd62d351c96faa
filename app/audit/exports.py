"""Auditors' downloads: the whole log as streamed NDJSON, and one lot's history as JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import IO, Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import auction
from app.accounts.models import User
from app.audit import chain, encoding
from app.audit import service as audit_service
from app.audit.checkpoints import checkpoint_at, log_head
from app.audit.identities import Identities, load_identities
from app.audit.models import EventRecord
from app.audit.notes import CheckpointSigner
from app.db import utcnow
from app.errors import AppError, Forbidden, NotFound
from app.lots import service as lots_service
from app.lots.models import Lot

BATCH = 2000
"""Events per query of a log export: a few megabytes of lines at a time, whatever the log's size."""
_LINE_COLUMNS = (
    EventRecord.seq,
    EventRecord.lot_id,
    EventRecord.lot_seq,
    EventRecord.lot_prev_hash,
    EventRecord.type,
    EventRecord.at,
    EventRecord.actor,
    EventRecord.payload,
    EventRecord.prev_hash,
    EventRecord.hash,
)


@dataclass(frozen=True, slots=True)
class LogExport:
    """What a log export will hold, fixed before its first byte: events (after, until]."""

    after: int
    until: int
    header: dict[str, Any]
    checkpoint: dict[str, Any]


async def plan_log_export(session: AsyncSession, signer: CheckpointSigner, after: int) -> LogExport:
    """Fix the range of an export from ``after`` to the head now, with the head's checkpoint."""
    until, head_hash = await log_head(session)
    if after > until:
        raise AppError(422, "after_beyond_head", f"The log has {until} events; after={after}.")
    after_hash: str | None = chain.GENESIS_HASH
    if after > 0:
        query = select(EventRecord.hash).where(EventRecord.seq == after)
        after_hash = (await session.execute(query)).scalar_one_or_none()
    if after_hash is None:
        raise AppError(404, "not_found", f"Event {after} is not in the log.")
    checkpoint = await checkpoint_at(session, signer, until) if until else None
    exported_at = auction.format_time(utcnow())
    public_key = signer.signer.public_key_b64
    # An empty log (the genesis hash is its head), a damaged one, or a head signed with an
    # earlier key (rotated, or a log imported from a deployment with another): the header names
    # this server's key, so the checkpoint is signed with it too, now.
    if checkpoint is None or checkpoint["public_key"] != public_key:
        checkpoint = signer.sign(until, head_hash).as_json(public_key, exported_at)
    header = encoding.log_header(
        origin=signer.origin,
        public_key=public_key,
        after=after,
        after_hash=after_hash,
        until=until,
        exported_at=exported_at,
    )
    return LogExport(after, until, header, checkpoint)


async def stream_log(
    maker: async_sessionmaker[AsyncSession], export: LogExport
) -> AsyncIterator[bytes]:
    """The export's lines, a batch per short read transaction: memory stays flat, and no
    transaction stays open for the whole download (events up to ``until`` never change)."""
    yield encoding.json_line(export.header).encode()
    last = export.after
    while last < export.until:
        async with maker() as session:
            rows = (
                await session.execute(
                    select(*_LINE_COLUMNS)
                    .where(EventRecord.seq > last, EventRecord.seq <= export.until)
                    .order_by(EventRecord.seq)
                    .limit(BATCH)
                )
            ).all()
        if not rows:
            break
        yield "".join(_line(row) for row in rows).encode()
        last = rows[-1].seq
    yield encoding.json_line({"kind": "checkpoint", **export.checkpoint}).encode()


def _line(row: Any) -> str:
    return encoding.event_line(
        seq=row.seq,
        lot_id=row.lot_id,
        lot_seq=row.lot_seq,
        lot_prev_hash=row.lot_prev_hash,
        type=row.type,
        at=auction.format_time(row.at),
        actor=row.actor,
        data_json=row.payload,
        prev_hash=row.prev_hash,
        hash=row.hash,
    )


def event_entry(record: EventRecord, identities: Identities) -> dict[str, Any]:
    """An event with every field its hash covers, its hashes, and who is behind it."""
    data = audit_service.event_data(record)
    bidder_number, _ = encoding.summary_of(data)
    return {
        "seq": record.seq,
        "lot_id": record.lot_id,
        "lot_seq": record.lot_seq,
        "lot_prev_hash": record.lot_prev_hash,
        "type": record.type,
        "at": auction.format_time(record.at),
        "actor": record.actor,
        "data": data,
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "actor_name": identities.actor_name(record.actor),
        "bidder_number": bidder_number or None,
        "bidder_name": identities.bidder_name(record.lot_id, data) or None,
    }


async def lot_history(session: AsyncSession, signer: CheckpointSigner, lot: Lot) -> dict[str, Any]:
    """A lot's whole history with identities and the checkpoint signed at its last event
    (for a closed or cancelled lot, that is its closing checkpoint)."""
    records = await audit_service.lot_events(session, lot.id)
    identities = await load_identities(session, [lot.id], {r.actor for r in records})
    checkpoint = await checkpoint_at(session, signer, records[-1].seq) if records else None
    return {
        "format": encoding.HISTORY_FORMAT,
        "version": encoding.FORMAT_VERSION,
        "origin": signer.origin,
        "public_key": signer.signer.public_key_b64,
        "exported_at": auction.format_time(utcnow()),
        "lot": {
            "id": lot.id,
            "village_id": lot.village_id,
            "title": lot.title,
            "format": lot.format,
            "status": lot.status,
            "result": lot.result,
        },
        "bidders": [identities.person(r) for r in identities.by_registration.values()],
        "events": [event_entry(record, identities) for record in records],
        "checkpoint": checkpoint,
    }


def history_csv(history: dict[str, Any]) -> str:
    """The history as CSV: a BOM (so Excel reads UTF-8), bilingual headers, a row per event,
    and a last row holding the signed checkpoint note and the public key."""
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(encoding.CSV_HEADER)
    for event in history["events"]:
        writer.writerow([encoding.csv_cell(field, event) for field in encoding.CSV_FIELDS])
    checkpoint = history["checkpoint"] or {}
    writer.writerow(
        [encoding.CSV_CHECKPOINT, checkpoint.get("note", ""), checkpoint.get("public_key", "")]
    )
    return buffer.getvalue()


def history_json(history: dict[str, Any]) -> bytes:
    return json.dumps(history, ensure_ascii=False, indent=1).encode()


async def lot_for_history(session: AsyncSession, viewer: User, lot_id: int) -> Lot:
    """The lot whose history ``viewer`` asks for: auditors and the lot's own officials only."""
    lot = await session.get(Lot, lot_id)
    if lot is None or (lot.status == "draft" and not lots_service.may_see_draft(viewer, lot)):
        raise NotFound("lot_not_found", f"There is no lot {lot_id}.")
    if not lots_service.may_see_identities(viewer, lot):
        raise Forbidden("Only auditors and the lot's officials download its history.")
    return lot


async def write_log_export(
    maker: async_sessionmaker[AsyncSession],
    signer: CheckpointSigner,
    after: int,
    output: IO[bytes],
) -> LogExport:
    """Write a log export to ``output`` (the ``auction export-log`` command)."""
    async with maker() as session:
        export = await plan_log_export(session, signer, after)
    async for chunk in stream_log(maker, export):
        output.write(chunk)
    return export
