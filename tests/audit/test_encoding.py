"""The export formats: event lines are canonical bodies with the hashes in front, notes are C2SP."""

from __future__ import annotations

import base64
import hashlib
import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from app.audit import chain, encoding
from app.audit.keys import LogSigner
from app.audit.notes import CheckpointSigner, NoteError, key_id, parse_note, signature_problem

BODIES = [
    {"seq": 1, "lot_id": 3, "lot_seq": 1, "lot_prev_hash": chain.GENESIS_HASH},
    {"seq": 99, "lot_id": None, "lot_seq": None, "lot_prev_hash": None},
]
DATA = [
    {"bidder": "A07", "amount_fen": 30_500_000},
    {"reason": '网络故障 "quoted" \\ back\nslash \u2028', "registration_id": 12},
    {},
    {"nested": {"z": [1, 2, {"b": None, "a": True}], "a": "é"}},
]


@pytest.mark.parametrize("fields", BODIES)
@pytest.mark.parametrize("data", DATA)
def test_an_event_line_is_the_canonical_body_with_the_hashes_in_front(
    fields: dict[str, object], data: dict[str, object]
) -> None:
    body = chain.record_body(
        **fields,  # type: ignore[arg-type]
        type="bid_placed",
        at="2026-11-25T01:02:03.000004Z",
        actor="user:12",
        data=data,
    )
    line = encoding.event_line(
        **{k: v for k, v in body.items() if k != "data"},  # type: ignore[arg-type]
        data_json=chain.canonical_json(data).decode(),
        prev_hash="a" * 64,
        hash="b" * 64,
    ).encode()

    assert encoding.body_of_line(line) == chain.canonical_json(body)
    assert json.loads(line) == {**body, "prev_hash": "a" * 64, "hash": "b" * 64}
    assert line.endswith(b"}\n")
    assert line[encoding.HASH_AT : encoding.HASH_AT + 64] == b"b" * 64
    assert line[encoding.PREV_HASH_AT : encoding.PREV_HASH_AT + 64] == b"a" * 64


def test_a_line_that_is_not_an_event_line_has_no_body() -> None:
    assert encoding.body_of_line(b'{"kind":"checkpoint"}\n') is None
    assert encoding.body_of_line(b'{"hash":"' + b"0" * 200 + b"}\n") is None


def test_the_csv_repeats_bidder_and_amount_from_the_data() -> None:
    assert encoding.summary_of({"bidder": "A07", "amount_fen": 5}) == ("A07", "5")
    assert encoding.summary_of({"holder": "C03", "price_fen": 9}) == ("C03", "9")
    result = {"result": {"winner": "B02", "price_fen": 101_000}}
    assert encoding.summary_of(result) == ("B02", "101000")
    assert encoding.summary_of({"amount_fen": True}) == ("", "")
    assert encoding.summary_of([1]) == ("", "")


def _signer() -> CheckpointSigner:
    return CheckpointSigner("village-auction/test", LogSigner(Ed25519PrivateKey.generate()))


def test_a_checkpoint_is_a_c2sp_signed_note() -> None:
    signer = _signer()
    head = hashlib.sha256(b"head").hexdigest()

    checkpoint = signer.sign(42, head)

    body, signature_line = checkpoint.note.split("\n\n")
    assert body == f"village-auction/test\n42\n{base64.b64encode(bytes.fromhex(head)).decode()}"
    assert signature_line.startswith("\u2014 village-auction/test ")
    assert signature_line.endswith("\n")
    signed = base64.b64decode(signature_line.split(" ")[2])
    public = signer.signer.public_key_raw
    expected_id = hashlib.sha256(b"village-auction/test\n\x01" + public).digest()[:4]
    assert signed[:4] == expected_id == key_id("village-auction/test", public)
    signer.signer.public_key.verify(signed[4:], (body + "\n").encode())


def test_a_checkpoint_is_deterministic_and_parses_back() -> None:
    signer = _signer()
    head = "ab" * 32
    note = signer.sign(7, head).note

    assert signer.sign(7, head).note == note
    parsed = parse_note(note)
    assert (parsed.origin, parsed.size, parsed.hash) == ("village-auction/test", 7, head)
    assert signature_problem(parsed, signer.signer.public_key_raw) is None


def test_a_checkpoint_does_not_verify_with_another_key() -> None:
    checkpoint = _signer().sign(7, "ab" * 32)
    problem = signature_problem(checkpoint, _signer().signer.public_key_raw)
    assert problem is not None
    assert "another key" in problem


@pytest.mark.parametrize(
    "note",
    [
        "",
        "origin\n7\n",
        "origin\nseven\nAAAA\n\n\u2014 origin AAAA\n",
        "origin\n7\nnot base64!\n\n\u2014 origin AAAA\n",
        "origin\n7\n" + base64.b64encode(bytes(32)).decode() + "\n\nno signature line\n",
        "origin\n7\n" + base64.b64encode(bytes(32)).decode() + "\n\n\u2014 origin AAAA\n",
    ],
)
def test_a_malformed_note_is_refused(note: str) -> None:
    with pytest.raises(NoteError):
        parse_note(note)
