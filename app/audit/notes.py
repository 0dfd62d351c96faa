"""Signed checkpoints as C2SP signed notes: origin, size and head hash, signed with Ed25519."""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from app.audit.keys import LogSigner

# Pure and deterministic: the same origin, key, size and hash always give the same note and,
# Ed25519 being deterministic, the same signature. docs/audit.md specifies the format.

SIGNATURE_LINE_START = "\u2014 "
"""An em dash and a space start every signature line of a signed note."""
ED25519_ALGORITHM = b"\x01"
"""The signature type byte of Ed25519 in C2SP signed-note key ids and verifier keys."""


class NoteError(ValueError):
    """The text is not a well-formed signed checkpoint."""


def key_id(key_name: str, public_key_raw: bytes) -> bytes:
    """The 4-byte key id: the start of sha256(name || LF || 0x01 || public key)."""
    return hashlib.sha256(key_name.encode() + b"\n" + ED25519_ALGORITHM + public_key_raw).digest()[
        :4
    ]


def verifier_key(key_name: str, public_key_raw: bytes) -> str:
    """The key as a C2SP verifier key string: ``<name>+<key id hex>+<base64(0x01 || key)>``."""
    encoded = base64.b64encode(ED25519_ALGORITHM + public_key_raw).decode()
    return f"{key_name}+{key_id(key_name, public_key_raw).hex()}+{encoded}"


def note_body(origin: str, size: int, head_hash: str) -> str:
    """The signed text: origin, tree size (the global seq) and the base64 head hash, each + LF."""
    return f"{origin}\n{size}\n{base64.b64encode(bytes.fromhex(head_hash)).decode()}\n"


@dataclass(frozen=True, slots=True)
class SignedCheckpoint:
    """A checkpoint: the log had ``size`` events and the last one's hash was ``hash``."""

    origin: str
    size: int
    hash: str
    """The hex hash of event ``size`` (the log's head hash at that size)."""
    key_name: str
    key_id: bytes
    signature: bytes
    """The raw 64-byte Ed25519 signature of ``body``."""

    @property
    def body(self) -> str:
        return note_body(self.origin, self.size, self.hash)

    @property
    def note(self) -> str:
        """The signed note: the body, a blank line and one signature line."""
        signed = base64.b64encode(self.key_id + self.signature).decode()
        return f"{self.body}\n{SIGNATURE_LINE_START}{self.key_name} {signed}\n"

    def as_json(self, public_key: str, at: str | None) -> dict[str, Any]:
        """The checkpoint as the API and the exports show it (``public_key`` in base64).

        ``at`` is when the server signed it; it is not covered by the signature.
        """
        return {
            "origin": self.origin,
            "size": self.size,
            "hash": self.hash,
            "at": at,
            "note": self.note,
            "signature": base64.b64encode(self.signature).decode(),
            "public_key": public_key,
        }


@dataclass(frozen=True, slots=True)
class CheckpointSigner:
    """Signs checkpoints of one log: its origin line names it, its key vouches for it."""

    origin: str
    signer: LogSigner

    def sign(self, size: int, head_hash: str) -> SignedCheckpoint:
        body = note_body(self.origin, size, head_hash)
        signature = base64.b64decode(self.signer.sign(body.encode()))
        identifier = key_id(self.origin, self.signer.public_key_raw)
        return SignedCheckpoint(self.origin, size, head_hash, self.origin, identifier, signature)


def parse_note(note: str) -> SignedCheckpoint:
    """Read a signed checkpoint note (its first signature line); NoteError if malformed."""
    body, separator, signatures = note.partition("\n\n")
    lines = body.split("\n")
    if not separator or len(lines) < 3:
        raise NoteError("a checkpoint note has an origin, a size and a hash, then a blank line")
    origin, size_text, hash_text = lines[:3]
    if not origin or not size_text.isdigit() or (size_text != "0" and size_text[0] == "0"):
        raise NoteError("the note's origin or size line is malformed")
    try:
        head = base64.b64decode(hash_text, validate=True)
    except binascii.Error as exc:
        raise NoteError("the note's hash line is not base64") from exc
    first = signatures.split("\n", 1)[0]
    if not first.startswith(SIGNATURE_LINE_START) or first.count(" ") != 2 or len(head) != 32:
        raise NoteError("the note has no well-formed signature line")
    key_name, _, signed_text = first[len(SIGNATURE_LINE_START) :].partition(" ")
    try:
        signed = base64.b64decode(signed_text, validate=True)
    except binascii.Error as exc:
        raise NoteError("the note's signature is not base64") from exc
    if len(signed) != 4 + 64:
        raise NoteError("the note's signature is not a 4-byte key id and an Ed25519 signature")
    checkpoint = SignedCheckpoint(
        origin, int(size_text), head.hex(), key_name, signed[:4], signed[4:]
    )
    if checkpoint.body != body + "\n":
        raise NoteError("the note has extra lines this verifier does not know")
    return checkpoint


def signature_problem(checkpoint: SignedCheckpoint, public_key_raw: bytes) -> str | None:
    """Why the checkpoint is not signed by ``public_key_raw`` under its origin, or None."""
    if checkpoint.key_name != checkpoint.origin:
        return (
            f"the note is signed by {checkpoint.key_name!r}, not by the log {checkpoint.origin!r}"
        )
    if checkpoint.key_id != key_id(checkpoint.key_name, public_key_raw):
        return "the note's key id is not the id of the public key (signed with another key)"
    try:
        key = Ed25519PublicKey.from_public_bytes(public_key_raw)
        key.verify(checkpoint.signature, checkpoint.body.encode())
    except (InvalidSignature, ValueError):
        return "the checkpoint's Ed25519 signature does not verify with the public key"
    return None
