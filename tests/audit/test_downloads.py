"""Auditors' downloads verify offline; tampering with the database or the file is caught."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from app.accounts.models import Role
from app.audit import checkpoints
from app.audit.models import EventRecord
from tests.audit.synthetic import export_lines, rows_of
from tests.audit.world import World, closed_lot_world, download, tamper, verify
from tests.factories import make_person

LOG = "/api/audit/log.ndjson"


@pytest.fixture
async def world(client: httpx.AsyncClient, app: FastAPI) -> World:
    return await closed_lot_world(client, app)


async def _seq_of_bid(app: FastAPI, lot_id: int, amount_fen: int) -> int:
    async with app.state.sessionmaker() as session:
        records = (
            await session.execute(
                select(EventRecord).where(
                    EventRecord.lot_id == lot_id, EventRecord.type == "bid_placed"
                )
            )
        ).scalars()
        return next(r.seq for r in records if json.loads(r.payload)["amount_fen"] == amount_fen)


@pytest.mark.parametrize(
    "path", [LOG, "/api/lots/{lot}/history.json", "/api/lots/{lot}/history.csv"]
)
async def test_an_untouched_download_verifies_with_the_published_key(
    client: httpx.AsyncClient, world: World, tmp_path: Path, path: str
) -> None:
    url = path.format(lot=world.lot_id)
    file = await download(client, url, world.auditor, tmp_path / url.rsplit("/", 1)[-1])

    code, output = verify(file, "--public-key", world.key)

    assert code == 0, output
    assert "1 closing results recomputed and equal" in output


async def test_the_log_export_has_a_header_every_event_and_a_closing_checkpoint(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get(LOG, headers=world.auditor.headers)

    assert response.headers["content-type"] == "application/x-ndjson"
    lines = [json.loads(line) for line in response.text.splitlines()]
    header, events, checkpoint = lines[0], lines[1:-1], lines[-1]
    assert header["kind"] == "header"
    assert header["public_key"] == world.key
    assert [e["seq"] for e in events] == list(range(1, header["until"] + 1))
    assert events[-1]["type"] == "lot_closed"
    assert checkpoint["kind"] == "checkpoint"
    assert (checkpoint["size"], checkpoint["hash"]) == (events[-1]["seq"], events[-1]["hash"])


async def test_an_export_after_a_sequence_number_continues_the_one_before(
    client: httpx.AsyncClient, world: World, tmp_path: Path
) -> None:
    first = (await client.get(LOG, headers=world.auditor.headers)).text.splitlines()
    after = 5
    file = await download(client, f"{LOG}?after={after}", world.auditor, tmp_path / "rest.ndjson")

    code, output = verify(file, "--public-key", world.key)

    assert code == 0, output
    header = json.loads(file.read_text().splitlines()[0])
    assert header["after_hash"] == json.loads(first[after])["hash"]
    assert "lots began before the export" in output


async def test_an_export_after_the_head_is_refused(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(f"{LOG}?after=100000", headers=world.auditor.headers)
    assert (response.status_code, response.json()["code"]) == (422, "after_beyond_head")


async def test_an_amount_changed_in_the_database_is_caught_at_its_event(
    client: httpx.AsyncClient, app: FastAPI, world: World, tmp_path: Path
) -> None:
    seq = await _seq_of_bid(app, world.lot_id, 30_500_000)
    await tamper(
        app,
        f"UPDATE events SET payload = REPLACE(payload, '30500000', '31500000') WHERE seq = {seq}",
    )

    for path in (LOG, f"/api/lots/{world.lot_id}/history.json"):
        file = await download(client, path, world.auditor, tmp_path / "export")
        code, output = verify(file, "--public-key", world.key)
        assert code == 1, output
        assert output.startswith(f"TAMPERED at seq {seq}")
        assert "hash does not match" in output


async def test_a_row_deleted_from_the_database_is_caught_where_it_is_missing(
    client: httpx.AsyncClient, app: FastAPI, world: World, tmp_path: Path
) -> None:
    seq = await _seq_of_bid(app, world.lot_id, 30_500_000)
    await tamper(app, f"DELETE FROM events WHERE seq = {seq}")

    file = await download(client, LOG, world.auditor, tmp_path / "log.ndjson")
    code, output = verify(file)
    assert code == 1
    assert output.startswith(f"TAMPERED at seq {seq}: expected seq {seq}, found seq {seq + 1}")

    history = await download(
        client, f"/api/lots/{world.lot_id}/history.json", world.auditor, tmp_path / "h.json"
    )
    code, output = verify(history)
    assert code == 1
    assert "is missing" in output


async def test_two_rows_reordered_in_the_database_are_caught_at_the_first(
    client: httpx.AsyncClient, app: FastAPI, world: World, tmp_path: Path
) -> None:
    seq = await _seq_of_bid(app, world.lot_id, 30_500_000)
    await tamper(
        app,
        f"UPDATE events SET seq = -1 WHERE seq = {seq}",
        f"UPDATE events SET seq = {seq} WHERE seq = {seq + 1}",
        f"UPDATE events SET seq = {seq + 1} WHERE seq = -1",
    )

    file = await download(client, LOG, world.auditor, tmp_path / "log.ndjson")
    code, output = verify(file)

    assert code == 1
    assert output.startswith(f"TAMPERED at seq {seq}: ")


async def test_an_edited_csv_cell_is_caught(
    client: httpx.AsyncClient, app: FastAPI, world: World, tmp_path: Path
) -> None:
    seq = await _seq_of_bid(app, world.lot_id, 30_500_000)
    path = f"/api/lots/{world.lot_id}/history.csv"
    original = (await download(client, path, world.auditor, tmp_path / "h.csv")).read_bytes()
    assert original.startswith("\ufeff序号 seq,".encode())
    rows = list(csv.reader(io.StringIO(original.decode("utf-8-sig"))))
    row = next(i for i, r in enumerate(rows) if r[0] == str(seq))
    amount = rows[0].index("金额(分) amount_fen")
    data = rows[0].index("事件数据 data")

    for column, edit in ((amount, "31500000"), (data, rows[row][data].replace("305", "315"))):
        edited = [list(r) for r in rows]
        edited[row][column] = edit
        buffer = io.StringIO()
        buffer.write("\ufeff")
        csv.writer(buffer, lineterminator="\r\n").writerows(edited)
        file = tmp_path / "edited.csv"
        file.write_text(buffer.getvalue(), encoding="utf-8")

        code, output = verify(file, "--public-key", world.key)

        assert code == 1, output
        assert output.startswith(f"TAMPERED at seq {seq}")


async def test_a_truncated_history_fails_against_its_checkpoint(
    client: httpx.AsyncClient, world: World, tmp_path: Path
) -> None:
    path = f"/api/lots/{world.lot_id}/history.json"
    history = json.loads((await client.get(path, headers=world.auditor.headers)).content)
    last_kept = history["events"][-2]["seq"]
    history["events"] = history["events"][:-1]
    file = tmp_path / "short.json"
    file.write_text(json.dumps(history, ensure_ascii=False))

    code, output = verify(file, "--public-key", world.key)

    assert code == 1
    assert output.startswith(f"TAMPERED at seq {last_kept + 1}")
    assert "cut short" in output


async def test_the_history_of_a_running_lot_verifies_against_a_checkpoint_of_its_last_event(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    running = await closed_lot_world(client, app, bids=3, close=False)
    path = f"/api/lots/{running.lot_id}/history.json"
    file = await download(client, path, running.official, tmp_path / "running.json")
    history = json.loads(file.read_text())

    code, output = verify(file, "--public-key", running.key)

    assert code == 0, output
    assert history["lot"]["status"] == "open"
    assert history["checkpoint"]["size"] == history["events"][-1]["seq"]
    assert "0 closing results" in output


async def test_an_empty_log_exports_and_verifies(
    client: httpx.AsyncClient, app: FastAPI, tmp_path: Path
) -> None:
    auditor = await make_person(client, app.state.sessionmaker, Role.AUDITOR)
    file = await download(client, LOG, auditor, tmp_path / "empty.ndjson")

    code, output = verify(file)

    assert code == 0, output
    assert "no events after seq 0" in output


async def test_the_last_row_deleted_from_the_database_is_caught(
    client: httpx.AsyncClient, app: FastAPI, world: World, tmp_path: Path
) -> None:
    last = json.loads((await client.get(LOG, headers=world.auditor.headers)).text.splitlines()[-2])
    await tamper(app, f"DELETE FROM events WHERE seq = {last['seq']}")

    file = await download(client, LOG, world.auditor, tmp_path / "log.ndjson")
    code, output = verify(file, "--public-key", world.key)

    assert code == 1
    assert output.startswith(f"TAMPERED at seq {last['seq']}: the events after seq ")


async def test_a_forged_result_rechained_and_resigned_with_the_real_key_is_caught_by_the_rules(
    client: httpx.AsyncClient, app: FastAPI, world: World, tmp_path: Path
) -> None:
    lines = (await client.get(LOG, headers=world.auditor.headers)).content.splitlines(keepends=True)
    rows = rows_of(lines)
    closing = next(row for row in rows if row["type"] == "lot_closed")
    loser = next(
        number for _, number in world.bidders if number != closing["data"]["result"]["winner"]
    )
    closing["data"]["result"]["winner"] = loser  # the server itself lies, and holds the key
    signer = checkpoints.checkpoint_signer(app.state.runtime.signer)
    file = tmp_path / "forged.ndjson"
    file.write_bytes(b"".join(export_lines(rows, signer)))

    code, output = verify(file, "--public-key", world.key)

    assert code == 1
    assert output.startswith(f"TAMPERED at seq {closing['seq']}: the auction rules refuse")
