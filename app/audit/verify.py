"""Check an export offline: ``python -m app.audit.verify FILE`` (and ``auction verify``)."""

from __future__ import annotations

import argparse
import base64
import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import IO, Any

from app.audit import encoding
from app.audit.notes import NoteError, parse_note
from app.audit.verifier import (
    Report,
    Tampered,
    Unreadable,
    check_checkpoint,
    check_history_events,
    check_log,
    checkpoint_from_json,
    decode_key,
)

# Works on a whole-log NDJSON export, a lot's history JSON or its history CSV, with no database
# and no server. The log's public key should come out of band (/.well-known/auction-log-key),
# given with --public-key: a file re-signed with another key then fails.

VALID, TAMPERED, UNREADABLE = 0, 1, 2
BOM = b"\xef\xbb\xbf"


class Progress:
    """A one-line progress bar on stderr, redrawn at most five times a second."""

    redraw_s = 0.2

    def __init__(self, stream: IO[str], file: IO[bytes], total_bytes: int) -> None:
        self.stream, self.file, self.total = stream, file, max(total_bytes, 1)
        self.began = self.shown = time.monotonic()

    def __call__(self, events: int) -> None:
        now = time.monotonic()
        if now - self.shown < self.redraw_s:
            return
        self.shown = now
        done = min(self.file.tell() / self.total, 1.0)
        bar = "#" * int(done * 30)
        rate = events / max(now - self.began, 1e-9)
        self.stream.write(f"\r[{bar:<30}] {done:4.0%} {events:>12,} events {rate:>10,.0f}/s")
        self.stream.flush()

    def close(self) -> None:
        self.stream.write("\r" + " " * 78 + "\r")
        self.stream.flush()


def verify_file(
    path: Path,
    *,
    public_key: str | None = None,
    replay: bool = True,
    progress: IO[str] | None = None,
) -> Report:
    """Check ``path``; raises Tampered or Unreadable, returns the report of a valid file."""
    trusted = None if public_key is None else decode_key(public_key)
    try:
        file = path.open("rb")
    except OSError as exc:
        raise Unreadable(f"cannot read {path}: {exc.strerror or exc}") from exc
    with file:
        size = os.fstat(file.fileno()).st_size
        return _verify_open(file, size, trusted, replay, progress)


def verify_bytes(data: bytes, *, public_key: str | None = None, replay: bool = True) -> Report:
    """Check an export held in memory (a lot history, typically); as verify_file."""
    trusted = None if public_key is None else decode_key(public_key)
    return _verify_open(io.BytesIO(data), len(data), trusted, replay, None)


def _verify_open(
    file: IO[bytes], size: int, trusted: bytes | None, replay: bool, progress: IO[str] | None
) -> Report:
    """Tell the format by the first bytes, then check it."""
    start = file.read(64)
    file.seek(0)
    if start.startswith(BOM):
        return _verify_csv(file, trusted, replay)
    if not start.startswith(b'{"kind":"header"'):
        return _verify_history_json(file, trusted, replay)
    bar = Progress(progress, file, size) if progress else None
    try:
        return check_log(iter(file), trusted_key=trusted, replay=replay, on_progress=bar)
    finally:
        if bar is not None:
            bar.close()


def _verify_history_json(file: IO[bytes], trusted: bytes | None, replay: bool) -> Report:
    try:
        history = json.load(file)
    except (ValueError, UnicodeDecodeError) as exc:
        raise Unreadable("not an export: neither a log, a history JSON nor a history CSV") from exc
    if not isinstance(history, dict) or history.get("format") != encoding.HISTORY_FORMAT:
        raise Unreadable("not an export: neither a log, a history JSON nor a history CSV")
    lot = history.get("lot")
    events = history.get("events")
    if not isinstance(lot, dict) or not isinstance(events, list):
        raise Tampered(None, "the history has no lot or no event list")
    if not all(isinstance(event, dict) for event in events):
        raise Tampered(None, "an entry of the event list is not an event")
    checkpoint, file_key = checkpoint_from_json(history.get("checkpoint"))
    return _finish_history(lot.get("id"), events, checkpoint, file_key, trusted, replay, "JSON")


def _verify_csv(file: IO[bytes], trusted: bytes | None, replay: bool) -> Report:
    text = io.TextIOWrapper(file, encoding="utf-8-sig", newline="")
    try:
        rows = list(csv.reader(text))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise Unreadable(f"the CSV cannot be read: {exc}") from exc
    if not rows or rows[0] != encoding.CSV_HEADER:
        raise Unreadable("not a lot history CSV: the header row is not the expected one")
    if len(rows) < 2 or rows[-1][:1] != [encoding.CSV_CHECKPOINT] or len(rows[-1]) < 3:
        raise Tampered(None, "the CSV does not end with its checkpoint row (it was cut short)")
    try:
        checkpoint = parse_note(rows[-1][1])
        file_key = decode_key(rows[-1][2])
    except (NoteError, Unreadable) as exc:
        raise Tampered(None, f"the checkpoint row is malformed: {exc}") from exc
    events = [_csv_event(row) for row in rows[1:-1]]
    lot_id = events[0].get("lot_id") if events else None
    return _finish_history(lot_id, events, checkpoint, file_key, trusted, replay, "CSV")


def _csv_event(row: list[str]) -> dict[str, Any]:
    """An event from a CSV row; the cells that repeat its data must agree with it."""
    cells = dict(zip(encoding.CSV_FIELDS, row, strict=False))
    seq = int(cells["seq"]) if cells.get("seq", "").isdigit() else None
    if len(row) != len(encoding.CSV_FIELDS):
        raise Tampered(seq, "the row does not have one cell per column")
    try:
        event: dict[str, Any] = {
            **cells,
            "seq": int(cells["seq"]),
            "lot_id": int(cells["lot_id"]),
            "lot_seq": int(cells["lot_seq"]),
            "data": json.loads(cells["data"]),
        }
    except ValueError as exc:
        raise Tampered(seq, f"a cell is not readable: {exc}") from exc
    for field in ("bidder_number", "amount_fen"):
        if cells[field] != encoding.csv_cell(field, event):
            raise Tampered(seq, f"the {field} cell does not say what the event's data says")
    return event


def _finish_history(
    lot_id: Any,
    events: list[dict[str, Any]],
    checkpoint: Any,
    file_key: bytes,
    trusted: bytes | None,
    replay: bool,
    kind: str,
) -> Report:
    if not isinstance(lot_id, int):
        raise Tampered(None, "the history does not say which lot it is")
    count, last_seq, last_hash = check_history_events(events, lot_id, replay)
    check_checkpoint(
        checkpoint, last_seq=last_seq, last_hash=last_hash, file_key=file_key, trusted_key=trusted
    )
    report = Report(f"history of lot {lot_id} ({kind})", events=count, checkpoint=checkpoint)
    report.first_seq, report.last_seq = events[0]["seq"], last_seq
    report.replayed = replay
    report.lots_replayed = 1 if replay else 0
    report.lots_closed = int(replay and events[-1].get("type") == "lot_closed")
    report.public_key = base64.b64encode(file_key).decode()
    return report


def run(argv: list[str] | None = None, out: IO[str] = sys.stdout, err: IO[str] = sys.stderr) -> int:
    """The command: parse ``argv``, verify, print the verdict; returns the exit code."""
    parser = argparse.ArgumentParser(
        prog="auction verify",
        description="Check an export offline: exit 0 valid, 1 tampered, 2 unreadable.",
    )
    parser.add_argument("file", type=Path, help="a log .ndjson, a history .json or .csv")
    parser.add_argument("--public-key", help="the log's Ed25519 key (base64), obtained out of band")
    parser.add_argument("--progress", action="store_true", help="show progress even if not a TTY")
    parser.add_argument("--chain-only", action="store_true", help="skip replaying the rules")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return VALID if exc.code == 0 else UNREADABLE
    return verify_command(
        args.file,
        public_key=args.public_key,
        replay=not args.chain_only,
        progress=args.progress or err.isatty(),
        out=out,
        err=err,
    )


def verify_command(
    path: Path,
    *,
    public_key: str | None,
    replay: bool,
    progress: bool,
    out: IO[str],
    err: IO[str],
) -> int:
    """Verify ``path`` and print one verdict; shared by ``auction verify`` and ``-m``."""
    try:
        report = verify_file(
            path, public_key=public_key, replay=replay, progress=err if progress else None
        )
    except Unreadable as exc:
        err.write(f"error: {exc}\n")
        return UNREADABLE
    except Tampered as exc:
        out.write(f"{exc}\n")
        return TAMPERED
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, for any surprise
        err.write(f"error: cannot check {path}: {type(exc).__name__}: {exc}\n")
        return UNREADABLE
    out.write(report.summary() + "\n")
    if public_key is None:
        out.write(
            "  note: checked against the key inside the file; pass --public-key with the key "
            "from /.well-known/auction-log-key to rule out a re-signed file\n"
        )
    return VALID


if __name__ == "__main__":
    sys.exit(run())
