"""The hash chain, pure: canonical encoding of an event and the hash that links it to the last.

Nothing here does I/O; an auditor's verifier uses this module on an exported file alone.
The encoding is specified in docs/audit.md.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> bytes:
    """UTF-8 JSON with sorted keys, no insignificant whitespace and no floats."""
    return json.dumps(
        value, ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False
    ).encode()


def record_body(
    *,
    seq: int,
    lot_id: int | None,
    lot_seq: int | None,
    lot_prev_hash: str | None,
    type: str,
    at: str,
    actor: str,
    data: Any,
) -> dict[str, Any]:
    """The fields a hash covers, keyed as in an export line."""
    return {
        "seq": seq,
        "lot_id": lot_id,
        "lot_seq": lot_seq,
        "lot_prev_hash": lot_prev_hash,
        "type": type,
        "at": at,
        "actor": actor,
        "data": data,
    }


def link_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """sha256 over the previous hash's 32 raw bytes followed by the body's canonical bytes."""
    return hashlib.sha256(bytes.fromhex(prev_hash) + canonical_json(body)).hexdigest()
