"""Restoring a whole-log export into an empty database (``auction import-log``).

The file is read once, through the same checks as ``auction verify``: each line is written only
after the verifier has passed it, and everything happens in one transaction, so a file found
tampered at any line leaves the database as it was. Then the read model is rebuilt from the
events (app/audit/rebuild.py) and the head and the export's checkpoint are stored.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from app import auction
from app.accounts.models import User, Village
from app.audit import chain, encoding
from app.audit.models import Checkpoint, EventRecord, LogHead
from app.audit.rebuild import Counts, ReadModel
from app.audit.verifier import Replayer, Report, Tampered, Unreadable, check_log, decode_key
from app.db import WRITE_LOCK
from app.errors import AppError
from app.lots.models import Lot

BATCH = 2000
"""Events per INSERT: memory stays flat whatever the log's size."""


@dataclass(frozen=True, slots=True)
class ImportReport:
    verified: Report
    counts: Counts
    checkpoint_stored: bool

    def summary(self, server_key: str | None) -> str:
        """What was restored, what was verified, and what the log could not restore."""
        report, counts = self.verified, self.counts
        assert report.checkpoint is not None
        registrations = f"{counts.approved:,} approved, {counts.rejected:,} rejected, "
        registrations += f"{counts.pending:,} pending"
        if counts.unattributed:
            registrations += f", {counts.unattributed:,} unsettled by the log (left pending)"
        if not report.events:
            return "the export holds no events: nothing to import (the log stays empty)"
        lines = [
            f"imported {report.events:,} events (seq 1 to {report.last_seq or 0}), verified: "
            f"chain, checkpoint of size {report.checkpoint.size} signed by {report.public_key}, "
            f"rules of {report.lots_replayed:,} lots",
            f"  rebuilt: {counts.lots:,} lots; registrations: {registrations}",
        ]
        if counts.users_kept:
            lines.append(f"  kept {counts.users_kept:,} existing accounts with the log's user ids")
        if counts.users_placeholder:
            lines.append(
                f"  not in the log: accounts. {counts.users_placeholder:,} user ids became "
                "inactive placeholders (restored-user-<id>, no password)"
            )
        if counts.placeholder_village:
            lines.append(
                "  not in the log: villages. Lots whose official has no account here are in "
                "the village 'restored from the log'"
            )
        lines.append(
            "  not in the log: deposits, sealed initial bids of pending registrations, "
            "officials' notes, idempotency keys (see docs/operations.md, Restore)"
        )
        if server_key is None:
            lines.append(
                "  note: this server has no signing key: put the log's key back before serving, "
                "or make a new one with `auction signing-key --new` (see docs/operations.md, "
                "Rotate the signing key)"
            )
        elif server_key != report.public_key:
            lines.append(
                f"  note: this server signs with another key ({server_key}); its new "
                "checkpoints will carry it (see docs/operations.md, Rotate the signing key)"
            )
        return "\n".join(lines)


async def import_log(
    maker: async_sessionmaker[AsyncSession],
    path: Path,
    *,
    public_key: str | None = None,
    keep_accounts: bool = False,
    batch: int = BATCH,
) -> ImportReport:
    """Restore the export at ``path``; raises Tampered or Unreadable (from the verifier) or
    AppError (the database is not empty, the export is partial), having written nothing."""
    trusted = None if public_key is None else decode_key(public_key)
    try:
        file = path.open("rb")
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from exc
    with file:
        async with maker() as session, session.begin():
            await session.connection(execution_options=WRITE_LOCK)
            await _check_empty(session, keep_accounts=keep_accounts)
            return await session.run_sync(_restore, file, trusted, keep_accounts, batch)


async def _check_empty(session: AsyncSession, *, keep_accounts: bool) -> None:
    """Refuse a database with a log (or lots), and one with accounts unless told to keep them.

    Locks the log head: a server appending to this database meanwhile waits, then finds the log
    restored under it rather than two chains interleaved.
    """
    head = (await session.execute(select(LogHead.seq).with_for_update())).scalar_one()
    events = (await session.execute(select(func.count()).select_from(EventRecord))).scalar_one()
    lots = (await session.execute(select(func.count()).select_from(Lot))).scalar_one()
    if head or events or lots:
        raise AppError(
            409,
            "database_not_empty",
            f"The database already holds {max(head, events)} events and {lots} lots; "
            "import-log restores into an empty database only. Make a new one and run "
            "`auction migrate` on it.",
        )
    users = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    villages = (await session.execute(select(func.count()).select_from(Village))).scalar_one()
    if (users or villages) and not keep_accounts:
        raise AppError(
            409,
            "database_has_accounts",
            f"The database holds {users} users and {villages} villages. If they were restored "
            "from this deployment's backup (same ids), pass --keep-accounts to link the log's "
            "user ids to them; otherwise import into a database without accounts.",
        )


def _restore(
    session: Session, file: Iterable[bytes], trusted: bytes | None, keep: bool, batch: int
) -> ImportReport:
    restorer = _Restorer(session, ReadModel(session, keep_accounts=keep), batch)
    replayer = Replayer()
    report = check_log(restorer.lines(file), trusted_key=trusted, replayer=replayer)
    return restorer.finish(report, replayer)


class _Restorer:
    """Between the file and the verifier: each line is taken once the verifier asks for the next
    (by then it has passed every check but the checkpoint's, which ``finish`` follows)."""

    def __init__(self, session: Session, model: ReadModel, batch: int) -> None:
        self.session, self.model, self.batch = session, model, batch
        self.rows: list[dict[str, Any]] = []
        self.header: dict[str, Any] | None = None
        self.trailer: dict[str, Any] | None = None
        self.last_hash = ""
        self._held: bytes | None = None

    def lines(self, file: Iterable[bytes]) -> Iterator[bytes]:
        for line in file:
            if self._held is not None:
                self._take(self._held)
            self._held = line
            yield line

    def finish(self, report: Report, replayer: Replayer) -> ImportReport:
        if self._held is not None:
            self._take(self._held)
        self._flush()
        counts = self.model.finish(replayer.states)
        last_seq = report.last_seq or 0
        if last_seq:
            self.session.execute(update(LogHead).values(seq=last_seq, hash=self.last_hash))
        stored = self._store_checkpoint(last_seq)
        return ImportReport(report, counts, stored)

    def _take(self, line: bytes) -> None:
        if line.startswith(encoding.LINE_START):
            self._take_event(line)
        elif self.header is None:
            self._take_header(json.loads(line))
        elif line.strip():
            self.trailer = json.loads(line)

    def _take_header(self, header: dict[str, Any]) -> None:
        self.header = header
        if header.get("after") != 0:
            raise AppError(
                422,
                "partial_export",
                f"The export starts after seq {header.get('after')}; import-log needs the whole "
                "log (auction export-log without --after).",
            )

    def _take_event(self, line: bytes) -> None:
        event = json.loads(line)
        seq, data, at_text = event["seq"], event["data"], event["at"]
        payload = chain.canonical_json(data).decode()
        at = auction.parse_time(at_text)
        fields = {
            "seq": seq,
            "lot_id": event["lot_id"],
            "lot_seq": event["lot_seq"],
            "lot_prev_hash": event["lot_prev_hash"],
            "type": event["type"],
            "actor": event["actor"],
            "prev_hash": event["prev_hash"],
            "hash": event["hash"],
        }
        written = encoding.event_line(**fields, at=auction.format_time(at), data_json=payload)
        if written.encode() != line:
            # Intact, but not as the server writes it: restored, it would export differently.
            raise Tampered(seq, "the line is not in the canonical form the server writes")
        self.rows.append({**fields, "payload": payload, "at": at})
        self.model.take(
            lot_id=fields["lot_id"],
            lot_seq=fields["lot_seq"],
            type=fields["type"],
            at=at,
            actor=fields["actor"],
            data=data,
            hash=fields["hash"],
        )
        self.last_hash = fields["hash"]
        if len(self.rows) >= self.batch:
            self._flush()

    def _flush(self) -> None:
        self.session.flush()  # the lots (and their creators) the events refer to
        if self.rows:
            self.session.execute(insert(EventRecord), self.rows)
            self.rows = []

    def _store_checkpoint(self, last_seq: int) -> bool:
        """The export's checkpoint, as signed then (its key and time): a re-export matches."""
        trailer = self.trailer or {}
        if not last_seq or trailer.get("size") != last_seq:
            return False
        try:
            signed_at = auction.parse_time(str(trailer.get("at")))
        except ValueError:
            return False  # verified, but without a time to store: signed again when asked
        self.session.add(
            Checkpoint(
                size=last_seq,
                hash=trailer["hash"],
                note=trailer["note"],
                public_key=trailer["public_key"],
                signed_at=signed_at,
            )
        )
        self.session.flush()
        return True
