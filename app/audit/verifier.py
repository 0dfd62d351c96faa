"""The checks of an export, pure: hash chain, lot links, checkpoint signature and rule replay.

It reads parsed lines or records handed to it; app/audit/verify.py does the file reading.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from app import auction
from app.audit import chain, encoding
from app.audit.notes import NoteError, SignedCheckpoint, parse_note, signature_problem

CLOSING_EVENTS = frozenset({"lot_closed", "lot_cancelled"})
PROGRESS_EVERY = 1 << 16
"""Events between two calls of the progress callback."""


class Tampered(Exception):  # noqa: N818 - it names the verdict, as the exit code does
    """The export is not intact: ``seq`` is the first event (or checkpoint size) found wrong."""

    def __init__(self, seq: int | None, message: str, *, lot_seq: int | None = None) -> None:
        super().__init__(message)
        self.seq = seq
        self.lot_seq = lot_seq
        self.message = message

    def __str__(self) -> str:
        where = "" if self.seq is None else f" at seq {self.seq}"
        if self.lot_seq is not None:
            where += f" (lot event #{self.lot_seq})"
        return f"TAMPERED{where}: {self.message}"


class Unreadable(Exception):  # noqa: N818 - a verdict, like Tampered
    """The file is not an export this verifier knows (or a key given is malformed)."""


@dataclass
class Report:
    """What a valid export proved."""

    kind: str
    events: int = 0
    first_seq: int | None = None
    last_seq: int | None = None
    lots_replayed: int = 0
    lots_closed: int = 0
    lots_partial: int = 0
    """Lots whose first events precede the export (``after`` > 0): chained but not replayed."""
    checkpoint: SignedCheckpoint | None = None
    public_key: str = ""

    def summary(self) -> str:
        assert self.checkpoint is not None
        lines = [
            f"valid {self.kind}: {self.events:,} events, seq {self.first_seq} to {self.last_seq}",
            f"  checkpoint: {self.checkpoint.origin}, size {self.checkpoint.size}, "
            f"signed by Ed25519 key {self.public_key}",
        ]
        if self.lots_replayed or self.lots_partial:
            lines.append(
                f"  rules: {self.lots_replayed:,} lots replayed, {self.lots_closed:,} closing "
                f"results recomputed and equal"
                + (f"; {self.lots_partial:,} lots began before the export" if self.lots_partial else "")
            )
        else:
            lines.append("  rules: not replayed (chain only)")
        return "\n".join(lines)


def decode_key(text: str) -> bytes:
    """A raw Ed25519 public key from base64 (or a C2SP verifier key string)."""
    if "+" in text and text.count("+") >= 2 and not text.endswith("="):
        text = text.rsplit("+", 1)[1]
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise Unreadable(f"the public key {text!r} is not base64") from exc
    if len(raw) == 33 and raw[:1] == b"\x01":
        raw = raw[1:]
    if len(raw) != 32:
        raise Unreadable("an Ed25519 public key is 32 bytes")
    return raw


@dataclass
class Replayer:
    """Folds every lot's events through app.auction, as ``replay`` does, one event at a time."""

    states: dict[int, auction.LotState] = field(default_factory=dict)
    partial: set[int] = field(default_factory=set)
    closed: int = 0

    def feed(self, seq: int, lot_id: int, lot_seq: int, type: str, at: str, data: Any) -> None:
        if lot_id in self.partial:
            return
        state = self.states.get(lot_id)
        if state is None and lot_seq != 1:
            self.partial.add(lot_id)
            return
        try:
            state = auction.apply(state, auction.Event(type, auction.parse_time(at), data))
        except Exception as exc:  # noqa: BLE001 - whatever the rules refuse, the log is wrong
            raise Tampered(seq, f"the auction rules refuse this {type} event: {exc}") from exc
        if type == "lot_closed":
            recorded = data.get("result") if isinstance(data, dict) else None
            if recorded != state.result:
                raise Tampered(
                    seq, f"lot {lot_id} closed with {recorded!r}; its events give {state.result!r}"
                )
            self.closed += 1
        self.states[lot_id] = state


def check_checkpoint(
    checkpoint: SignedCheckpoint,
    *,
    last_seq: int,
    last_hash: str,
    file_key: bytes,
    trusted_key: bytes | None,
) -> None:
    """The checkpoint must sign exactly the last event, with the file's and the trusted key."""
    if checkpoint.size > last_seq:
        raise Tampered(
            last_seq + 1,
            f"the events after seq {last_seq} are missing: the checkpoint covers "
            f"{checkpoint.size} (the export was cut short)",
        )
    if checkpoint.size < last_seq:
        raise Tampered(
            checkpoint.size + 1,
            f"the events after seq {checkpoint.size} are not covered by the checkpoint",
        )
    if checkpoint.hash != last_hash:
        raise Tampered(last_seq, "the checkpoint's hash is not the hash of the last event")
    if trusted_key is not None and trusted_key != file_key:
        raise Tampered(
            checkpoint.size,
            "the file carries another public key than the one given with --public-key",
        )
    if problem := signature_problem(checkpoint, file_key):
        raise Tampered(checkpoint.size, problem)


def checkpoint_from_json(value: Any) -> tuple[SignedCheckpoint, bytes]:
    """The signed note and public key of a checkpoint object, which must agree with its fields."""
    if not isinstance(value, dict) or not isinstance(value.get("note"), str):
        raise Tampered(None, "the export has no checkpoint")
    try:
        checkpoint = parse_note(value["note"])
    except NoteError as exc:
        raise Tampered(None, f"the checkpoint note is malformed: {exc}") from exc
    if (value.get("size"), value.get("hash")) != (checkpoint.size, checkpoint.hash):
        raise Tampered(checkpoint.size, "the checkpoint's fields differ from its signed note")
    try:
        key = decode_key(str(value.get("public_key", "")))
    except Unreadable as exc:
        raise Tampered(checkpoint.size, f"the checkpoint's public key is malformed: {exc}") from exc
    return checkpoint, key


def check_log(
    lines: Iterator[bytes],
    *,
    trusted_key: bytes | None = None,
    replay: bool = True,
    on_progress: Callable[[int], None] | None = None,
) -> Report:
    """Check a whole-log NDJSON export, line by line in constant memory (but for lot states)."""
    try:
        header = json.loads(next(lines))
    except (StopIteration, ValueError) as exc:
        raise Unreadable("the first line is not a log export header") from exc
    if not isinstance(header, dict) or header.get("format") != encoding.LOG_FORMAT:
        raise Unreadable(f"not a {encoding.LOG_FORMAT} export")
    if header.get("version") != encoding.FORMAT_VERSION:
        raise Unreadable(f"format version {header.get('version')!r} is not supported")
    after, until = header.get("after"), header.get("until")
    if not isinstance(after, int) or not isinstance(until, int):
        raise Unreadable("the header has no integer after/until range")
    report = Report("log export", public_key=str(header.get("public_key")))
    last_seq, last_hash, trailer = _check_event_lines(
        lines, after, report, Replayer() if replay else None, on_progress
    )
    if trailer is None:
        raise Tampered(
            last_seq + 1,
            f"the export ends after seq {last_seq} without its checkpoint "
            f"(the header promises events up to {until}): it was cut short",
        )
    checkpoint, file_key = checkpoint_from_json(trailer)
    if trailer.get("public_key") != header.get("public_key"):
        raise Tampered(checkpoint.size, "the header and the checkpoint carry different keys")
    check_checkpoint(
        checkpoint,
        last_seq=last_seq,
        last_hash=last_hash,
        file_key=file_key,
        trusted_key=trusted_key,
    )
    report.checkpoint = checkpoint
    return report


def _check_event_lines(
    lines: Iterator[bytes],
    after: int,
    report: Report,
    replayer: Replayer | None,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, str, dict[str, Any] | None]:
    """The hot loop: about a dozen operations an event, every one of them needed."""
    sha256, loads, hexlify = hashlib.sha256, json.loads, binascii.hexlify
    body_of, hash_at, prev_at = encoding.body_of_line, encoding.HASH_AT, encoding.PREV_HASH_AT
    lots: dict[int, tuple[int, str]] = {}
    seq, prev_hex, prev_digest = after, b"", b""
    last_hash = ""
    if after == 0:
        prev_hex, prev_digest = chain.GENESIS_HASH.encode(), bytes(32)
    for line in lines:
        expected = seq + 1
        body = body_of(line)
        if body is None:
            return _other_line(line, lines, expected, seq, last_hash)
        try:
            event = loads(line)
            seq = event["seq"]
            lot_id, lot_seq = event["lot_id"], event["lot_seq"]
        except (ValueError, KeyError, TypeError) as exc:
            raise Tampered(expected, "the line is not a readable event") from exc
        if seq != expected:
            raise _gap(expected, seq)
        if not prev_hex:  # an export from ``after`` > 0 starts from the hash it names
            prev_hex = line[prev_at : prev_at + 64]
            prev_digest = binascii.unhexlify(prev_hex)
        elif line[prev_at : prev_at + 64] != prev_hex:
            raise Tampered(seq, "prev_hash is not the hash of the event before")
        digest = sha256(prev_digest + body).digest()
        prev_hex = hexlify(digest)
        if line[hash_at : hash_at + 64] != prev_hex:
            raise Tampered(seq, "the hash does not match the event's content")
        prev_digest, last_hash = digest, event["hash"]
        if lot_id is not None:
            _check_lot_link(lots, event, after, seq)
            lots[lot_id] = (lot_seq, last_hash)
            if replayer is not None:
                replayer.feed(seq, lot_id, lot_seq, event["type"], event["at"], event["data"])
        report.events += 1
        if on_progress is not None and not report.events % PROGRESS_EVERY:
            on_progress(report.events)
    _finish(report, after, seq, replayer)
    return seq, last_hash, None


def _other_line(
    line: bytes, rest: Iterator[bytes], expected: int, seq: int, last_hash: str
) -> tuple[int, str, dict[str, Any] | None]:
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if not isinstance(value, dict) or value.get("kind") != "checkpoint":
        raise Tampered(expected, "the line is not a well-formed event line")
    if any(extra.strip() for extra in rest):
        raise Tampered(None, "there are lines after the checkpoint")
    return seq, last_hash, value


def _gap(expected: int, found: Any) -> Tampered:
    if isinstance(found, int) and found > expected:
        return Tampered(expected, f"seq {expected} is missing (the next line is seq {found})")
    return Tampered(expected, f"expected seq {expected} here, found seq {found} (out of order)")


def _check_lot_link(lots: dict[int, tuple[int, str]], event: dict[str, Any], after: int, seq: int) -> None:
    previous = lots.get(event["lot_id"])
    lot_seq = event["lot_seq"]
    if previous is None:
        if lot_seq == 1 and event["lot_prev_hash"] == chain.GENESIS_HASH:
            return
        if after > 0 and isinstance(lot_seq, int) and lot_seq > 1:
            return  # the lot began before this export
        raise Tampered(seq, f"lot {event['lot_id']} does not start at its first event")
    if lot_seq != previous[0] + 1:
        raise Tampered(seq, f"lot {event['lot_id']} jumps from event #{previous[0]} to #{lot_seq}")
    if event["lot_prev_hash"] != previous[1]:
        raise Tampered(seq, "lot_prev_hash is not the hash of the lot's event before")


def _finish(report: Report, after: int, seq: int, replayer: Replayer | None) -> None:
    if report.events:
        report.first_seq, report.last_seq = after + 1, seq
    if replayer is not None:
        report.lots_replayed = len(replayer.states)
        report.lots_closed = replayer.closed
        report.lots_partial = len(replayer.partial)


def check_history_events(
    events: Iterable[dict[str, Any]], lot_id: int, replay: bool = True
) -> tuple[int, int, str]:
    """Check one lot's events (from its JSON or CSV history); returns (count, last seq, hash).

    Each hash is recomputed from the canonical encoding of the event's fields.
    """
    replayer = Replayer() if replay else None
    count, last_seq, last_hash = 0, 0, chain.GENESIS_HASH
    for event in events:
        count += 1
        seq = event.get("seq")
        if not isinstance(seq, int) or seq <= last_seq:
            raise Tampered(seq if isinstance(seq, int) else None, "seq is not increasing")
        if event.get("lot_id") != lot_id:
            raise Tampered(seq, f"the event is not of lot {lot_id}")
        if event.get("lot_seq") != count:
            raise Tampered(
                seq, f"lot event #{count} is missing (found #{event.get('lot_seq')})", lot_seq=count
            )
        if event.get("lot_prev_hash") != last_hash:
            raise Tampered(seq, "lot_prev_hash is not the hash of the lot's event before", lot_seq=count)
        body = chain.record_body(**{name: event.get(name) for name in BODY_FIELDS})
        if chain.link_hash(str(event.get("prev_hash")), body) != event.get("hash"):
            raise Tampered(seq, "the hash does not match the event's content", lot_seq=count)
        if replayer is not None:
            replayer.feed(seq, lot_id, count, str(event["type"]), str(event["at"]), event["data"])
        last_seq, last_hash = seq, str(event["hash"])
    if not count:
        raise Tampered(None, "the history has no events")
    return count, last_seq, last_hash


BODY_FIELDS = ("seq", "lot_id", "lot_seq", "lot_prev_hash", "type", "at", "actor", "data")
