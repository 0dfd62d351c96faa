"""Lots (the read model of their events) and the registrations of bidders for them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, UTCDateTime, utcnow

LOT_STATUSES = ("draft", "registration", "open", "paused", "closed", "cancelled")


class Lot(Base):
    """One asset offered for lease; every column below ``seq`` is derived from the lot's events."""

    __tablename__ = "lots"
    __table_args__ = (
        CheckConstraint(
            "status IN ('draft', 'registration', 'open', 'paused', 'closed', 'cancelled')",
            name="status",
        ),
        CheckConstraint("format IN ('timed', 'sequential', 'sealed')", name="format"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    village_id: Mapped[int] = mapped_column(ForeignKey("villages.id"), index=True)
    created_by: Mapped[int] = mapped_column(ForeignKey("users.id"))
    title: Mapped[str] = mapped_column(String(200))
    asset_kind: Mapped[str] = mapped_column(String(32), index=True)
    """market, farmland, fishpond, shopfront, industrial_land, other."""
    description: Mapped[str] = mapped_column(Text, default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    area_m2: Mapped[int | None] = mapped_column(BigInteger)
    lease_term_months: Mapped[int] = mapped_column()
    format: Mapped[str] = mapped_column(String(16))
    rules: Mapped[dict[str, Any]] = mapped_column(JSON)
    """The format's parameters, normalised by the auction rules (includes the hidden reserve)."""
    starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """When the scheduler opens the lot by itself; none means an official opens it."""
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    seq: Mapped[int] = mapped_column(default=0)
    """The per-lot sequence number of the lot's last event."""
    status: Mapped[str] = mapped_column(String(16), default="draft", index=True)
    phase: Mapped[str | None] = mapped_column(String(32))
    current_price_fen: Mapped[int | None] = mapped_column(BigInteger)
    leader: Mapped[str | None] = mapped_column(String(8))
    round: Mapped[int] = mapped_column(default=0)
    turn: Mapped[str | None] = mapped_column(String(8))
    deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    """The deadline watchers see (countdown, turn or round end)."""
    next_due_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    """The next moment the scheduler must act on this lot (opening time or a deadline)."""
    head_hash: Mapped[str | None] = mapped_column(String(64))
    """The hash of the lot's last event, linked into the next one's ``lot_prev_hash``."""
    bid_count: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Registration(Base):
    """A bidder's application to bid on a lot, and the official's decision on it."""

    __tablename__ = "registrations"
    __table_args__ = (
        UniqueConstraint("lot_id", "user_id"),
        UniqueConstraint("lot_id", "bidder_number"),
        CheckConstraint("status IN ('pending', 'approved', 'rejected')", name="status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    lot_id: Mapped[int] = mapped_column(ForeignKey("lots.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    bidder_number: Mapped[str | None] = mapped_column(String(8))
    """The anonymous number (e.g. ``A07``) the public sees instead of the bidder's identity."""
    initial_bid_fen: Mapped[int | None] = mapped_column(BigInteger)
    """The sealed initial bid of the sequential-rounds format, secret until the rounds start."""
    priority: Mapped[bool] = mapped_column(default=False)
    """Holds a right of first refusal (优先权), e.g. the sitting tenant."""
    deposit_fen: Mapped[int | None] = mapped_column(BigInteger)
    """The deposit (保证金) the official recorded as received when approving."""
    note: Mapped[str] = mapped_column(Text, default="")
    reject_reason: Mapped[str] = mapped_column(Text, default="")
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
