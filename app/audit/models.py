"""The append-only, hash-chained event log (the truth of every other table) and its checkpoints."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime


class EventRecord(Base):
    """One event; the database refuses UPDATE and DELETE on this table (see the migration)."""

    __tablename__ = "events"
    __table_args__ = (UniqueConstraint("lot_id", "lot_seq"),)

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """Global sequence number: 1, 2, 3, ... with no gap, the order of the hash chain."""
    lot_id: Mapped[int | None] = mapped_column(ForeignKey("lots.id"), index=True)
    lot_seq: Mapped[int | None] = mapped_column()
    """Per-lot sequence number: 1, 2, 3, ... with no gap within the lot."""
    type: Mapped[str] = mapped_column(String(40), index=True)
    payload: Mapped[str] = mapped_column(Text)
    """The event's data as canonical JSON (docs/audit.md)."""
    actor: Mapped[str] = mapped_column(String(40), index=True)
    """``user:<id>`` or ``system`` (the scheduler)."""
    at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    prev_hash: Mapped[str] = mapped_column(String(64))
    """The hash of the event just before this one in the whole log (global seq - 1)."""
    lot_prev_hash: Mapped[str | None] = mapped_column(String(64))
    """The hash of the lot's previous event (genesis for its first): a lot's history alone
    is a chain too, so one lot's export can be checked without the rest of the log."""
    hash: Mapped[str] = mapped_column(String(64), unique=True)
    """sha256(prev_hash || canonical bytes of this event), hex."""


class LogHead(Base):
    """The chain's head: one row, locked by each append so the chain stays a single line."""

    __tablename__ = "log_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger)
    hash: Mapped[str] = mapped_column(String(64))


class Checkpoint(Base):
    """A signed checkpoint: the log had ``size`` events and event ``size`` had hash ``hash``."""

    __tablename__ = "checkpoints"

    size: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    """The global sequence number of the event whose hash is signed (the tree size)."""
    hash: Mapped[str] = mapped_column(String(64))
    note: Mapped[str] = mapped_column(Text)
    """The signed note (docs/audit.md): origin, size, base64 hash, blank line, signature line."""
    public_key: Mapped[str] = mapped_column(String(64))
    """The base64 Ed25519 key that signed it, so a checkpoint outlives a change of key."""
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    """When the server signed it; not covered by the signature."""
