"""The checks of an export, pure: hash chain, lot links, checkpoint signature and rule replay."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import json.scanner
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, cast

from app import auction
from app.audit import chain, encoding
from app.audit.notes import NoteError, SignedCheckpoint, parse_note, signature_problem

PROGRESS_EVERY = 1 << 16
"""Events between two calls of the progress callback."""
HEX_DIGITS = frozenset("0123456789abcdef")
BODY_FIELDS = ("seq", "lot_id", "lot_seq", "lot_prev_hash", "type", "at", "actor", "data")


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
    replayed: bool = False

    def summary(self) -> str:
        assert self.checkpoint is not None
        events = (
            f"{self.events:,} events, seq {self.first_seq} to {self.last_seq}"
            if self.events
            else f"no events after seq {self.checkpoint.size}"
        )
        lines = [
            f"valid {self.kind}: {events}",
            f"  checkpoint: {self.checkpoint.origin}, size {self.checkpoint.size}, "
            f"signed by Ed25519 key {self.public_key}",
        ]
        if not self.replayed:
            lines.append("  rules: not replayed (chain only)")
            return "\n".join(lines)
        rules = (
            f"  rules: {self.lots_replayed:,} lots replayed, "
            f"{self.lots_closed:,} closing results recomputed and equal"
        )
        if self.lots_partial:
            rules += f"; {self.lots_partial:,} lots began before the export (chain only)"
        lines.append(rules)
        return "\n".join(lines)


def decode_key(text: str) -> bytes:
    """A raw Ed25519 public key from base64, or from a C2SP verifier key ``name+id+base64``."""
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error:
        raw = b""
    if len(raw) != 32 and text.count("+") >= 2:
        try:
            raw = base64.b64decode(text.split("+", 2)[2], validate=True)
        except binascii.Error:
            raw = b""
        raw = raw[1:] if len(raw) == 33 and raw[:1] == b"\x01" else b""
    if len(raw) != 32:
        raise Unreadable(f"the public key {text!r} is not a base64 Ed25519 key of 32 bytes")
    return raw


@dataclass
class Replayer:
    """Folds every lot's events through app.auction, as ``replay`` does, one event at a time."""

    states: dict[int, auction.LotState] = field(default_factory=dict)
    partial: set[int] = field(default_factory=set)
    closed: int = 0

    def feed(self, seq: int, lot_id: int, lot_seq: int, event: dict[str, Any]) -> None:
        """Apply one event of the export (parsed, already chain-checked) to its lot's state."""
        state = self.states.get(lot_id)
        if state is None and (lot_seq != 1 or lot_id in self.partial):
            self.partial.add(lot_id)  # it began before the export: nothing to replay from
            return
        type: Any = event.get("type")
        data: Any = event.get("data")
        try:
            moment = _from_iso(event["at"])
            if moment.tzinfo is not UTC:  # only "Z" times are this quick; the rules read others
                moment = auction.parse_time(event["at"])
            state = _apply(state, _Event(type, moment, data))
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


_from_iso, _apply, _Event = datetime.fromisoformat, auction.apply, auction.Event


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
    replayer: Replayer | None = None,
) -> Report:
    """Check a whole-log NDJSON export, line by line in constant memory (but for lot states).

    ``lines`` is pulled one line at a time: when the next line is asked for, every line before
    it has passed every check but the checkpoint's. ``replayer`` (when replaying) receives the
    lots' states, for a caller that needs them afterwards (``auction import-log``).
    """
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
    after_hash = header.get("after_hash")
    if not _is_hex_hash(after_hash) or (after == 0 and after_hash != chain.GENESIS_HASH):
        raise Tampered(after + 1, "the header's after_hash is not a hash the log can start from")
    report = Report("log export", public_key=str(header.get("public_key")))
    last_seq, last_hash, trailer = _check_event_lines(
        lines,
        after,
        str(after_hash),
        report,
        (replayer or Replayer()) if replay else None,
        on_progress,
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


def _is_hex_hash(value: Any) -> bool:
    return isinstance(value, str) and len(value) == 64 and all(c in HEX_DIGITS for c in value)


def _check_event_lines(
    lines: Iterator[bytes],
    after: int,
    after_hash: str,
    report: Report,
    replayer: Replayer | None,
    on_progress: Callable[[int], None] | None,
) -> tuple[int, str, dict[str, Any] | None]:
    """The hot loop, a dozen operations an event. The fields checked and replayed are parsed
    from the very bytes the hash covers, so what is read is what the chain vouches for."""
    sha256, hexlify = hashlib.sha256, binascii.hexlify
    # The C scanner behind json.loads, minus loads' per-call encoding sniffing and wrappers.
    scan: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
        cast(Any, json.JSONDecoder())
    )
    feed = None if replayer is None else replayer.feed
    start, middle, hash_at, prev_at, body_at = (
        encoding.LINE_START,
        encoding.LINE_MIDDLE,
        encoding.HASH_AT,
        encoding.PREV_HASH_AT,
        encoding.BODY_AT,
    )
    middle_at = hash_at + 64
    lots: dict[int, tuple[int, str]] = {}
    seq, last_hash = after, after_hash
    prev_hex, prev_digest = after_hash.encode(), bytes.fromhex(after_hash)
    trailer = None
    for line in lines:
        expected = seq + 1
        if not line.startswith(start):
            trailer = _trailer(line, lines, expected)
            break
        body = b"{" + line[body_at:-1] if line[-1:] == b"\n" else b"{" + line[body_at:]
        try:
            text = body.decode()
            event, end = scan(text, 0)
            seq = event["seq"]
            lot_id, lot_seq = event["lot_id"], event["lot_seq"]
        except (ValueError, KeyError, TypeError, StopIteration) as exc:
            raise Tampered(expected, "the line is not a readable event") from exc
        if seq != expected:
            raise _gap(expected, seq)
        if line[prev_at : prev_at + 64] != prev_hex or line[middle_at:prev_at] != middle:
            raise Tampered(seq, "prev_hash is not the hash of the event before")
        digest = sha256(prev_digest + body).digest()
        prev_hex = hexlify(digest)
        if line[hash_at : hash_at + 64] != prev_hex or end != len(text):
            raise Tampered(seq, "the hash does not match the event's content")
        prev_digest, last_hash = digest, prev_hex.decode()
        if lot_id is not None:
            previous = lots.get(lot_id)
            if (
                previous is None
                or lot_seq != previous[0] + 1
                or event["lot_prev_hash"] != previous[1]
            ):
                _check_lot_link(previous, event, after, seq)
            lots[lot_id] = (lot_seq, last_hash)
            if feed is not None:
                feed(seq, lot_id, lot_seq, event)
        if on_progress is not None and not (seq - after) % PROGRESS_EVERY:
            on_progress(seq - after)
    report.events = seq - after
    _finish(report, after, seq, replayer)
    return seq, last_hash, trailer


def _trailer(line: bytes, rest: Iterator[bytes], expected: int) -> dict[str, Any]:
    """The checkpoint line that ends an export; nothing may follow it."""
    try:
        value = json.loads(line)
    except ValueError:
        value = None
    if not isinstance(value, dict) or value.get("kind") != "checkpoint":
        if line.startswith(b'{"kind":"checkpoint"'):
            raise Tampered(expected, "the checkpoint line is cut short or damaged")
        raise Tampered(expected, "the line is neither an event nor the checkpoint")
    if any(extra.strip() for extra in rest):
        raise Tampered(None, "there are lines after the checkpoint")
    return value


def _gap(expected: int, found: Any) -> Tampered:
    return Tampered(
        expected, f"expected seq {expected}, found seq {found}: events are missing or out of order"
    )


def _check_lot_link(
    previous: tuple[int, str] | None, event: dict[str, Any], after: int, seq: int
) -> None:
    """Raise unless the event is a lot's first, or (``after`` > 0) the first seen of a lot."""
    lot_seq = event["lot_seq"]
    if previous is None:
        if lot_seq == 1 and event["lot_prev_hash"] == chain.GENESIS_HASH:
            return
        if after > 0 and isinstance(lot_seq, int) and lot_seq > 1:
            return  # the lot began before this export
        raise Tampered(seq, f"lot {event['lot_id']} does not start at its first event")
    if lot_seq != previous[0] + 1:
        raise Tampered(seq, f"lot {event['lot_id']} jumps from event #{previous[0]} to #{lot_seq}")
    raise Tampered(seq, "lot_prev_hash is not the hash of the lot's event before")


def _finish(report: Report, after: int, seq: int, replayer: Replayer | None) -> None:
    if report.events:
        report.first_seq, report.last_seq = after + 1, seq
    if replayer is not None:
        report.replayed = True
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
            raise Tampered(
                seq, "lot_prev_hash is not the hash of the lot's event before", lot_seq=count
            )
        if _recomputed_hash(event) != event.get("hash"):
            raise Tampered(seq, "the hash does not match the event's content", lot_seq=count)
        if replayer is not None:
            replayer.feed(seq, lot_id, count, event)
        last_seq, last_hash = seq, str(event["hash"])
    if not count:
        raise Tampered(None, "the history has no events")
    return count, last_seq, last_hash


def _recomputed_hash(event: dict[str, Any]) -> str | None:
    """The hash of the event's fields canonically encoded, chained to its prev_hash."""
    fields: dict[str, Any] = {name: event.get(name) for name in BODY_FIELDS}
    try:
        return chain.link_hash(str(event.get("prev_hash")), chain.record_body(**fields))
    except (ValueError, TypeError):
        return None
