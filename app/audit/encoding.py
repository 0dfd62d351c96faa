"""The export formats, pure: NDJSON event lines, their header, and the CSV of a lot history."""

from __future__ import annotations

import json
from typing import Any

from app.audit import chain

# An event line is the event's canonical body (chain.record_body) with ``hash`` and
# ``prev_hash`` spliced in front, so the bytes the hash covers are a slice of the line.

LOG_FORMAT = "village-auction-log"
HISTORY_FORMAT = "village-auction-lot-history"
FORMAT_VERSION = 1

LINE_START = b'{"hash":"'
LINE_MIDDLE = b'","prev_hash":"'
LINE_BODY_START = b'",'
HASH_AT = len(LINE_START)
PREV_HASH_AT = HASH_AT + 64 + len(LINE_MIDDLE)
BODY_AT = PREV_HASH_AT + 64 + len(LINE_BODY_START)
"""Offsets in an event line: the hash, the previous hash and the body after its ``{``."""

_text = json.JSONEncoder(ensure_ascii=False).encode


def _optional(value: int | str | None) -> str:
    if value is None:
        return "null"
    return str(value) if isinstance(value, int) else _text(value)


def event_line(
    *,
    seq: int,
    lot_id: int | None,
    lot_seq: int | None,
    lot_prev_hash: str | None,
    type: str,
    at: str,
    actor: str,
    data_json: str,
    prev_hash: str,
    hash: str,
) -> str:
    """One NDJSON line; ``data_json`` is the stored canonical JSON of the data, used verbatim.

    The body's keys are written in canonical (sorted) order by hand: exporting is the hot path
    of a million-event download. tests/audit/test_encoding.py checks it against chain.py.
    """
    return (
        f'{{"hash":"{hash}","prev_hash":"{prev_hash}",'
        f'"actor":{_text(actor)},"at":{_text(at)},"data":{data_json},'
        f'"lot_id":{_optional(lot_id)},"lot_prev_hash":{_optional(lot_prev_hash)},'
        f'"lot_seq":{_optional(lot_seq)},"seq":{seq},"type":{_text(type)}}}\n'
    )


def body_of_line(line: bytes) -> bytes | None:
    """The canonical body bytes an event line's hash covers, or None if the line is malformed."""
    end = len(line) - 1 if line.endswith(b"\n") else len(line)
    if (
        end <= BODY_AT
        or not line.startswith(LINE_START)
        or line[HASH_AT + 64 : PREV_HASH_AT] != LINE_MIDDLE
        or line[PREV_HASH_AT + 64 : BODY_AT] != LINE_BODY_START
    ):
        return None
    return b"{" + line[BODY_AT:end]


def log_header(
    *, origin: str, public_key: str, after: int, after_hash: str, until: int, exported_at: str
) -> dict[str, Any]:
    """The first line of a log export: what it is, whose key signs it, the range it covers.

    ``after_hash`` is the hash of event ``after`` (genesis for 0): the first event links to it,
    and an auditor holding the export before can check this one continues it.
    """
    return {
        "kind": "header",
        "format": LOG_FORMAT,
        "version": FORMAT_VERSION,
        "origin": origin,
        "public_key": public_key,
        "after": after,
        "after_hash": after_hash,
        "until": until,
        "exported_at": exported_at,
    }


def json_line(value: dict[str, Any]) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")) + "\n"


# The CSV of a lot's history: one row per event, headers in Chinese and English.
CSV_COLUMNS: tuple[tuple[str, str], ...] = (
    ("序号", "seq"),
    ("标的编号", "lot_id"),
    ("标的内序号", "lot_seq"),
    ("时间(UTC)", "at"),
    ("事件", "type"),
    ("操作人", "actor"),
    ("操作人姓名", "actor_name"),
    ("竞买号", "bidder_number"),
    ("竞买人", "bidder_name"),
    ("金额(分)", "amount_fen"),
    ("事件数据", "data"),
    ("标的前一哈希", "lot_prev_hash"),
    ("前一哈希", "prev_hash"),
    ("哈希", "hash"),
)
CSV_HEADER = [f"{chinese} {english}" for chinese, english in CSV_COLUMNS]
CSV_FIELDS = [english for _, english in CSV_COLUMNS]
CSV_CHECKPOINT = "检查点 checkpoint"
"""The first cell of the last row, which holds the signed note and the public key."""
CHAINED_FIELDS = frozenset(
    {"seq", "lot_id", "lot_seq", "at", "type", "actor", "data", "lot_prev_hash", "prev_hash"}
)
"""Columns the hash covers; ``bidder_number`` and ``amount_fen`` repeat what ``data`` says."""


def summary_of(data: Any) -> tuple[str, str]:
    """The bidder number and amount an event's data names, as CSV cells ("" when none)."""
    if not isinstance(data, dict):
        return "", ""
    result = data.get("result")
    result = result if isinstance(result, dict) else {}
    bidder = data.get("bidder") or data.get("holder") or result.get("winner")
    amount = data.get("amount_fen")
    if amount is None:
        amount = data.get("price_fen", result.get("price_fen"))
    return (
        bidder if isinstance(bidder, str) else "",
        str(amount) if isinstance(amount, int) and not isinstance(amount, bool) else "",
    )


def csv_cell(field: str, event: dict[str, Any]) -> str:
    """The text of one CSV cell of an event of a lot history."""
    if field == "data":
        return chain.canonical_json(event["data"]).decode()
    if field in ("bidder_number", "amount_fen"):
        bidder, amount = summary_of(event["data"])
        return bidder if field == "bidder_number" else amount
    value = event.get(field)
    return "" if value is None else str(value)
