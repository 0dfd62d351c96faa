"""The auditors' "verify" button: the offline verifier run on the very CSV a download gives.

This belongs in app/audit as an API endpoint; until it has one, the page calls the audit
feature's public functions by name and nothing else.
"""

from __future__ import annotations

import asyncio
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts.models import User
from app.audit import checkpoints, exports
from app.audit.verifier import Tampered, Unreadable
from app.audit.verify import verify_file
from app.runtime import Runtime


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the verifier said of one lot's history."""

    valid: bool
    summary: str
    events: int = 0
    checkpoint_size: int | None = None
    first_bad_seq: int | None = None

    def as_json(self) -> dict[str, object]:
        return asdict(self)


async def verify_lot(session: AsyncSession, runtime: Runtime, viewer: User, lot_id: int) -> Verdict:
    """Export the lot's history as CSV and check it offline against the log's own public key."""
    lot = await exports.lot_for_history(session, viewer, lot_id)
    signer = checkpoints.checkpoint_signer(runtime.signer)
    history = await exports.lot_history(session, signer, lot)
    data = exports.history_csv(history).encode()
    return await asyncio.to_thread(_verify_bytes, data, runtime.signer.public_key_b64)


def _verify_bytes(data: bytes, public_key: str) -> Verdict:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "history.csv"
        path.write_bytes(data)
        try:
            report = verify_file(path, public_key=public_key)
        except Tampered as exc:
            return Verdict(False, str(exc), first_bad_seq=exc.seq)
        except Unreadable as exc:
            return Verdict(False, f"unreadable: {exc}")
    size = report.checkpoint.size if report.checkpoint is not None else None
    return Verdict(True, report.summary(), events=report.events, checkpoint_size=size)
