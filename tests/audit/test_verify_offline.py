"""The verifier on exports built in memory: each kind of tampering is caught at the right seq."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

from app.audit import verifier
from app.audit.verifier import Tampered, check_log
from app.audit.verify import Progress, run, verify_bytes
from tests.audit.synthetic import export_lines, interleave, new_signer, rows_of, timed_lot

SIGNER = new_signer()
KEY = SIGNER.signer.public_key_b64
LINES = export_lines(interleave([timed_lot(6), timed_lot(9), timed_lot(3)]), SIGNER)
EVENTS = len(LINES) - 2
CLOSED_AT = [json.loads(line)["seq"] for line in LINES[1:-1] if b'"type":"lot_closed"' in line]


def verdict(lines: list[bytes], public_key: str | None = KEY) -> Tampered:
    key = None if public_key is None else verifier.decode_key(public_key)
    with pytest.raises(Tampered) as caught:
        check_log(iter(lines), trusted_key=key)
    return caught.value


def write(tmp_path: Path, lines: list[bytes]) -> Path:
    path = tmp_path / "log.ndjson"
    path.write_bytes(b"".join(lines))
    return path


def run_cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(args), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def test_an_untouched_export_verifies_with_the_published_key(tmp_path: Path) -> None:
    code, out, err = run_cli(str(write(tmp_path, LINES)), "--public-key", KEY)

    assert code == 0, out + err
    assert f"valid log export: {EVENTS} events, seq 1 to {EVENTS}" in out
    assert "3 lots replayed, 3 closing results recomputed and equal" in out


def test_a_changed_amount_is_caught_at_its_event() -> None:
    target = next(i for i, line in enumerate(LINES) if b'"amount_fen":105000' in line)
    lines = list(LINES)
    lines[target] = lines[target].replace(b'"amount_fen":105000', b'"amount_fen":155000')

    found = verdict(lines)

    assert found.seq == target
    assert "hash does not match" in found.message


def test_a_deleted_event_is_caught_where_it_is_missing() -> None:
    lines = LINES[:10] + LINES[11:]

    found = verdict(lines)

    assert found.seq == 10
    assert "expected seq 10, found seq 11" in found.message


def test_two_swapped_events_are_caught_at_the_first() -> None:
    lines = list(LINES)
    lines[12], lines[13] = lines[13], lines[12]

    assert verdict(lines).seq == 12


def test_a_truncated_tail_is_caught_after_the_last_event_left() -> None:
    found = verdict(LINES[:-3])

    assert found.seq == EVENTS - 1
    assert "cut short" in found.message


def test_a_line_cut_in_the_middle_is_caught() -> None:
    data = b"".join(LINES)
    cut = data[: len(data) - len(LINES[-1]) - 40]

    found = verdict(cut.splitlines(keepends=True))

    assert found.seq == EVENTS
    assert "not a readable event" in found.message


def test_events_removed_before_the_checkpoint_are_caught() -> None:
    found = verdict(LINES[:-3] + LINES[-1:])

    assert found.seq == EVENTS - 1
    assert "missing" in found.message


def test_a_forged_result_is_caught_by_the_rules_even_when_rechained_and_resigned() -> None:
    rows = rows_of(LINES)
    closing = next(row for row in rows if row["type"] == "lot_closed")
    closing["data"]["result"]["winner"] = (
        "A01" if closing["data"]["result"]["winner"] != "A01" else "B02"
    )
    forged = export_lines(rows, SIGNER)  # a dishonest server holds the key

    found = verdict(forged)

    assert found.seq == closing["seq"] == CLOSED_AT[0]
    assert "rules" in found.message


def test_a_file_signed_with_another_key_fails_against_the_published_key() -> None:
    other = new_signer()
    resigned = export_lines(rows_of(LINES), other)

    check_log(iter(resigned))  # consistent on its own
    found = verdict(resigned, public_key=KEY)

    assert found.seq == EVENTS
    assert "another public key" in found.message


def test_a_checkpoint_signed_by_another_key_under_the_published_key_fails() -> None:
    forged = json.loads(LINES[-1])
    forged["note"] = new_signer().sign(EVENTS, forged["hash"]).note
    lines = [*LINES[:-1], json.dumps(forged).encode() + b"\n"]

    found = verdict(lines, public_key=None)

    assert found.seq == EVENTS
    assert "another key" in found.message


def test_a_corrupted_signature_fails() -> None:
    trailer = json.loads(LINES[-1])
    note = trailer["note"]
    trailer["note"] = note[:-10] + ("A" if note[-10] != "A" else "B") + note[-9:]

    found = verdict([*LINES[:-1], json.dumps(trailer).encode() + b"\n"])

    assert "does not verify" in found.message or "malformed" in found.message


def test_checkpoint_fields_that_differ_from_the_signed_note_fail() -> None:
    trailer = json.loads(LINES[-1])
    trailer["size"] += 1

    found = verdict([*LINES[:-1], json.dumps(trailer).encode() + b"\n"])

    assert "differ from its signed note" in found.message


def test_lines_after_the_checkpoint_fail() -> None:
    assert "after the checkpoint" in verdict([*LINES, LINES[5]]).message


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        pytest.param(lambda p: LINES, 0, id="intact"),
        pytest.param(lambda p: LINES[:-2], 1, id="tampered"),
        pytest.param(lambda p: [b"hello\n"], 2, id="not-an-export"),
        pytest.param(lambda p: [b'{"kind":"header","format":"x"}\n'], 2, id="unknown-format"),
    ],
)
def test_the_exit_code_says_valid_tampered_or_unreadable(
    tmp_path: Path, make: Callable[[Path], list[bytes]], expected: int
) -> None:
    code, out, err = run_cli(str(write(tmp_path, make(tmp_path))))
    assert code == expected, out + err
    if expected == 1:
        assert out.startswith(f"TAMPERED at seq {EVENTS}: ")
    if expected == 2:
        assert err.startswith("error: ")
        assert len(err.strip().splitlines()) == 1


def test_a_missing_file_or_a_bad_key_is_unreadable(tmp_path: Path) -> None:
    assert run_cli(str(tmp_path / "nothing.ndjson"))[0] == 2
    assert run_cli(str(write(tmp_path, LINES)), "--public-key", "not base64!")[0] == 2
    assert run_cli()[0] == 2


def test_progress_is_drawn_on_request(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(verifier, "PROGRESS_EVERY", 1)
    monkeypatch.setattr(Progress, "redraw_s", 0.0)

    code, _, err = run_cli(str(write(tmp_path, LINES)), "--progress")

    assert code == 0
    assert f"{EVENTS} events" in err
    assert "[###" in err


def test_the_chain_alone_can_be_checked_without_the_rules(tmp_path: Path) -> None:
    code, out, _ = run_cli(str(write(tmp_path, LINES)), "--chain-only")
    assert code == 0
    assert "not replayed" in out


def test_an_export_held_in_memory_verifies_the_same_way() -> None:
    assert verify_bytes(b"".join(LINES), public_key=KEY).events == EVENTS
    with pytest.raises(Tampered):
        verify_bytes(b"".join(LINES[:-2]), public_key=KEY)
