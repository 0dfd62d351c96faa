"""Response bodies of the audit API."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel


class CheckpointOut(BaseModel):
    """A signed checkpoint: the log had ``size`` events, the last with hash ``hash``."""

    origin: str
    size: int
    hash: str
    at: str | None
    """When the server signed it (not covered by the signature)."""
    note: str
    """The C2SP signed note: origin, size, base64 hash, blank line, signature line."""
    signature: str
    """The raw Ed25519 signature of the note's body, base64."""
    public_key: str


class LogKey(BaseModel):
    """The log's public key, to obtain out of band and give to ``auction verify --public-key``."""

    algorithm: str
    public_key: str
    key_name: str
    key_id: str
    verifier_key: str
    """The key in the C2SP verifier-key form ``<name>+<key id>+<base64(0x01 || key)>``."""


class AuditEvent(BaseModel):
    """An event with the fields its hash covers, its hashes, and the people behind it."""

    seq: int
    lot_id: int | None
    lot_seq: int | None
    lot_prev_hash: str | None
    type: str
    at: str
    actor: str
    data: Any
    prev_hash: str
    hash: str
    actor_name: str
    bidder_number: str | None
    bidder_name: str | None


class AuditEventPage(BaseModel):
    items: list[AuditEvent]
    next_cursor: int | None
    """Pass it as ``cursor`` for the next page; null on the last."""
