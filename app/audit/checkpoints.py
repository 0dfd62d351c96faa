"""Signed checkpoints of the log: stored twice a minute while events flow and at every lot close."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import auction
from app.audit.keys import LogSigner
from app.audit.models import Checkpoint, EventRecord, LogHead
from app.audit.notes import CheckpointSigner, parse_note
from app.db import WRITE_LOCK, transaction, utcnow
from app.runtime import Runtime

logger = logging.getLogger(__name__)

CHECKPOINT_INTERVAL_S = 30.0
"""How often the checkpointer looks for a moved head: twice within the promised minute."""
CLOSING_EVENTS = ("lot_closed", "lot_cancelled")
BATCH = 500


def log_origin(public_key_raw: bytes, configured: str = "") -> str:
    """The checkpoint origin line (and key name): the configured one, else named after the key.

    C2SP forbids whitespace and ``+`` in key names; a configured origin with them is refused.
    """
    if configured:
        if any(c.isspace() or c == "+" for c in configured):
            raise ValueError("a log origin has no whitespace and no '+'")
        return configured
    return f"village-auction/{hashlib.sha256(public_key_raw).hexdigest()[:16]}"


def checkpoint_signer(signer: LogSigner) -> CheckpointSigner:
    return CheckpointSigner(log_origin(signer.public_key_raw), signer)


def as_json(record: Checkpoint) -> dict[str, Any]:
    """A stored checkpoint in the API's shape: its note says it all but the key and ``at``."""
    signed = parse_note(record.note)
    return signed.as_json(record.public_key, auction.format_time(record.signed_at))


async def log_head(session: AsyncSession) -> tuple[int, str]:
    """The size and head hash of the log as this session sees it (no lock: a reader)."""
    head = (await session.execute(select(LogHead.seq, LogHead.hash))).one()
    return head.seq, head.hash


async def latest_checkpoint(session: AsyncSession) -> Checkpoint | None:
    query = select(Checkpoint).order_by(Checkpoint.size.desc()).limit(1)
    return (await session.execute(query)).scalar_one_or_none()


async def checkpoint_at(
    session: AsyncSession, signer: CheckpointSigner, size: int
) -> dict[str, Any] | None:
    """The checkpoint of size ``size``: the stored one, else signed now (and not stored)."""
    stored = await session.get(Checkpoint, size)
    if stored is not None:
        return as_json(stored)
    head_hash = (
        await session.execute(select(EventRecord.hash).where(EventRecord.seq == size))
    ).scalar_one_or_none()
    if head_hash is None:
        return None
    signed = signer.sign(size, head_hash)
    return signed.as_json(signer.signer.public_key_b64, auction.format_time(utcnow()))


async def current_checkpoint(
    session: AsyncSession, signer: CheckpointSigner
) -> dict[str, Any] | None:
    """The latest stored checkpoint, or one signed now if none is stored yet; None if empty."""
    stored = await latest_checkpoint(session)
    if stored is not None:
        return as_json(stored)
    size, _ = await log_head(session)
    return await checkpoint_at(session, signer, size) if size else None


async def _due(session: AsyncSession) -> list[tuple[int, str]]:
    """Closing events without their checkpoint yet, and the head if it moved since the last."""
    closing = await session.execute(
        select(EventRecord.seq, EventRecord.hash)
        .outerjoin(Checkpoint, Checkpoint.size == EventRecord.seq)
        .where(EventRecord.type.in_(CLOSING_EVENTS), Checkpoint.size.is_(None))
        .order_by(EventRecord.seq)
        .limit(BATCH)
    )
    due = [(row.seq, row.hash) for row in closing]
    size, head_hash = await log_head(session)
    latest = (await session.execute(select(func.max(Checkpoint.size)))).scalar_one_or_none()
    if size > (latest or 0) and size not in {seq for seq, _ in due}:
        due.append((size, head_hash))
    return due


async def sign_due_checkpoints(
    maker: async_sessionmaker[AsyncSession], signer: CheckpointSigner
) -> int:
    """Sign and store what is due; returns how many. Harmless when two processes race."""
    async with maker() as session:
        due = await _due(session)
    if not due:
        return 0
    now = utcnow()
    public_key = signer.signer.public_key_b64
    rows = [
        {
            "size": size,
            "hash": head_hash,
            "note": signer.sign(size, head_hash).note,
            "public_key": public_key,
            "signed_at": now,
        }
        for size, head_hash in due
    ]
    async with transaction(maker) as session:
        connection = await session.connection(execution_options=WRITE_LOCK)
        insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
        # Another process may have signed the same size: same note, so keep the first.
        await session.execute(
            insert(Checkpoint).values(rows).on_conflict_do_nothing(index_elements=["size"])
        )
    return len(rows)


async def run_checkpointer(
    maker: async_sessionmaker[AsyncSession],
    runtime: Runtime,
    interval_s: float = CHECKPOINT_INTERVAL_S,
) -> None:
    """Loop forever: sign what is due, then sleep until the interval ends or a lot closes."""
    signer = checkpoint_signer(runtime.signer)
    lot_closed = asyncio.Event()

    async def on_events(lot_id: int, records: list[Any]) -> None:
        if any(getattr(record, "type", None) in CLOSING_EVENTS for record in records):
            lot_closed.set()

    runtime.listeners.append(on_events)
    try:
        while True:
            lot_closed.clear()
            try:
                await sign_due_checkpoints(maker, signer)
            except Exception:
                logger.exception("signing checkpoints failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(lot_closed.wait(), timeout=interval_s)
    finally:
        runtime.listeners.remove(on_events)
