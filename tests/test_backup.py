"""Backups and restores: export-log then import-log into an empty database reproduces the log byte
for byte, a tampered or cut file writes nothing, and the documented database backups (PostgreSQL's
pg_dump and pg_restore, SQLite's backup API) restore a database that exports the same log.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from app import auction
from app.accounts.models import Role, User, Village
from app.accounts.security import configure_password_hashing
from app.audit import checkpoints, exports
from app.audit.checkpoints import checkpoint_signer
from app.audit.imports import import_log
from app.audit.keys import load_or_create_signer
from app.audit.models import Checkpoint, EventRecord, LogHead
from app.audit.verifier import Tampered
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.demo import load_demo
from app.lots.models import Lot, Registration
from app.main import create_app
from tests.audit.world import verify
from tests.conftest import Databases
from tests.factories import create_lot, make_person, make_village

EXPORTED_AT = datetime(2026, 11, 26, 8, 0, tzinfo=UTC)
LOT_COLUMNS = (
    "id created_by title asset_kind description location area_m2 lease_term_months format "
    "starts_at seq status phase current_price_fen leader round turn deadline next_due_at "
    "head_hash bid_count result"
).split()
"""Every column of a lot the log determines (its village and row times come from elsewhere)."""


@pytest.fixture
def frozen_export_time(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two exports of the same log differ only in when they were made: the header's
    ``exported_at`` and, if no checkpoint of the head is stored, the one signed for it."""
    monkeypatch.setattr(exports, "utcnow", lambda: EXPORTED_AT)
    monkeypatch.setattr(checkpoints, "utcnow", lambda: EXPORTED_AT)


@pytest.fixture
async def demo(settings: Settings) -> Settings:
    """The demo township (six lots in every state and format, with bids) in the test database."""
    configure_password_hashing(settings.argon2_time_cost, settings.argon2_memory_kib)
    assert await load_demo(settings)
    return settings


@pytest.fixture
async def empty(databases: Databases, settings: Settings) -> AsyncIterator[Settings]:
    """A second database, migrated and empty, on the same server and with the same signing key."""
    url = await databases.create()
    try:
        yield settings.model_copy(update={"database_url": url})
    finally:
        await databases.drop(url)


def auction_command(settings: Settings, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUCTION_")}
    env |= {
        "AUCTION_DATABASE_URL": settings.effective_database_url,
        "AUCTION_DATA_DIR": str(settings.data_dir),
    }
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def export(settings: Settings, target: Path) -> Path:
    """What ``auction export-log`` writes (in process, so the export time can be fixed)."""
    signer = checkpoint_signer(load_or_create_signer(settings.data_dir))
    engine = create_engine(settings)
    try:
        with target.open("wb") as output:
            await exports.write_log_export(create_sessionmaker(engine), signer, 0, output)
    finally:
        await engine.dispose()
    return target


def public_key(settings: Settings) -> str:
    return load_or_create_signer(settings.data_dir).public_key_b64


async def contents(settings: Settings) -> dict[str, Any]:
    """How many rows each table holds, and the log head."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            counts: dict[str, Any] = {
                model.__tablename__: (
                    await session.execute(select(func.count()).select_from(model))
                ).scalar_one()
                for model in (EventRecord, Lot, Registration, User, Village, Checkpoint)
            }
            counts["head"] = (await session.execute(select(LogHead.seq))).scalar_one()
    finally:
        await engine.dispose()
    return counts


EMPTY = {
    "events": 0,
    "lots": 0,
    "registrations": 0,
    "users": 0,
    "villages": 0,
    "checkpoints": 0,
    "head": 0,
}


async def read_model(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The lots (the columns the log determines, rules as the rules read them) and the
    registrations (what the log says of them) of a database."""
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            lots = (await session.execute(select(Lot).order_by(Lot.id))).scalars().all()
            registrations = (
                (await session.execute(select(Registration).order_by(Registration.id)))
                .scalars()
                .all()
            )
    finally:
        await engine.dispose()
    lot_rows = [
        {
            **{name: getattr(lot, name) for name in LOT_COLUMNS},
            "rules": auction.parse_rules(lot.format, lot.rules),
        }
        for lot in lots
    ]
    registration_rows = [
        {
            "id": r.id,
            "lot_id": r.lot_id,
            "user_id": r.user_id,
            "status": r.status,
            "bidder_number": r.bidder_number,
            "priority": r.priority,
            "decided_by": r.decided_by,
            # A sealed initial bid enters the log when the bidder is qualified, not before.
            "initial_bid_fen": r.initial_bid_fen if r.status == "approved" else None,
        }
        for r in registrations
    ]
    return lot_rows, registration_rows


@pytest.mark.usefixtures("frozen_export_time")
async def test_a_log_imported_into_an_empty_database_exports_again_byte_for_byte(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    original = await export(demo, tmp_path / "original.ndjson")

    imported = auction_command(empty, "import-log", str(original), "--public-key", public_key(demo))

    assert imported.returncode == 0, imported.stderr
    events = (await contents(demo))["events"]
    assert imported.stdout.startswith(f"imported {events} events (seq 1 to {events}), verified: ")
    assert "inactive placeholders" in imported.stdout  # the accounts are not in the log
    restored = await export(empty, tmp_path / "restored.ndjson")
    assert restored.read_bytes() == original.read_bytes()
    code, verdict = verify(restored, "--public-key", public_key(demo))
    assert code == 0, verdict
    assert verdict.startswith(f"valid log export: {events} events")
    assert await read_model(empty) == await read_model(demo)
    restored_counts = await contents(empty)
    assert restored_counts["head"] == events
    assert restored_counts["checkpoints"] == 1


async def test_the_service_runs_on_a_restored_database_and_the_log_goes_on(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    original = await export(demo, tmp_path / "original.ndjson")
    assert auction_command(empty, "import-log", str(original)).returncode == 0
    lots, _ = await read_model(demo)

    app = create_app(empty)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        for lot in lots:
            response = await client.get(f"/api/lots/{lot['id']}")
            if lot["status"] == "draft":
                assert response.status_code == 404
                continue
            shown = response.json()
            for name in ("title", "status", "seq", "current_price_fen", "leader", "result"):
                assert shown[name] == lot[name], name
        # New ids follow the restored ones, and new events extend the restored chain.
        maker = app.state.sessionmaker
        official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
        created = await create_lot(client, official)
        assert created["id"] == max(lot["id"] for lot in lots) + 1
        placeholder = await client.post(
            "/api/auth/token", data={"username": "restored-user-2", "password": ""}
        )
        assert placeholder.status_code in (401, 422)
    code, verdict = verify(await export(empty, tmp_path / "after.ndjson"))
    assert code == 0, verdict


async def test_a_tampered_export_is_refused_at_its_first_bad_line_and_nothing_is_written(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    exported = (await export(demo, tmp_path / "log.ndjson")).read_bytes()
    lines = exported.splitlines(keepends=True)
    first_bid = next(i for i, line in enumerate(lines) if b'"type":"bid_placed"' in line)
    lines[first_bid] = lines[first_bid].replace(b'"amount_fen":', b'"amount_fen":1', 1)
    tampered = tmp_path / "tampered.ndjson"
    tampered.write_bytes(b"".join(lines))

    result = auction_command(empty, "import-log", str(tampered))

    assert result.returncode == 1
    assert result.stderr.strip() == (
        f"error: TAMPERED at seq {first_bid}: the hash does not match the event's content; "
        "nothing was imported"
    )
    assert "Traceback" not in result.stderr
    assert await contents(empty) == EMPTY


async def test_a_cut_export_leaves_the_database_empty_even_after_many_batches(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    exported = (await export(demo, tmp_path / "log.ndjson")).read_bytes()
    cut = tmp_path / "cut.ndjson"
    cut.write_bytes(b"".join(exported.splitlines(keepends=True)[:-1]))  # no checkpoint line
    engine = create_engine(empty)
    try:
        with pytest.raises(Tampered, match="cut short"):
            await import_log(create_sessionmaker(engine), cut, batch=5)
    finally:
        await engine.dispose()
    assert await contents(empty) == EMPTY


async def test_import_into_a_database_that_holds_a_log_is_refused(
    demo: Settings, tmp_path: Path
) -> None:
    exported = await export(demo, tmp_path / "log.ndjson")
    before = await contents(demo)

    result = auction_command(demo, "import-log", str(exported), "--keep-accounts")

    assert result.returncode == 2
    assert result.stderr.startswith(
        f"error: database_not_empty: The database already holds {before['events']} events"
    )
    assert len(result.stderr.strip().splitlines()) == 1
    assert await contents(demo) == before


async def test_accounts_restored_first_are_kept_and_linked_to_the_log(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    exported = await export(demo, tmp_path / "log.ndjson")
    copy_accounts(demo, empty)
    refused = auction_command(empty, "import-log", str(exported))
    assert refused.returncode == 2
    assert refused.stderr.startswith("error: database_has_accounts: ")

    kept = auction_command(empty, "import-log", str(exported), "--keep-accounts")

    assert kept.returncode == 0, kept.stderr
    assert "placeholder" not in kept.stdout
    lots, registrations = await read_model(empty)
    assert (lots, registrations) == await read_model(demo)
    assert await villages_of_lots(empty) == await villages_of_lots(demo)
    app = create_app(empty)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        signed_in = await client.post(
            "/api/auth/token", data={"username": "chenwei", "password": "demo-pass-2026"}
        )
        assert signed_in.status_code == 200
        token = signed_in.json()["access_token"]
        mine = await client.get(
            "/api/me/registrations", headers={"Authorization": f"Bearer {token}"}
        )
        assert mine.status_code == 200
        numbers = {r["bidder_number"] for r in mine.json() if r["status"] == "approved"}
    chenwei = {r["bidder_number"] for r in registrations if r["user_id"] == 8}
    assert numbers == chenwei - {None}


async def test_a_log_imported_on_a_server_with_another_key_exports_under_that_key(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    exported = await export(demo, tmp_path / "log.ndjson")
    elsewhere = empty.model_copy(update={"data_dir": tmp_path / "new-key"})
    server_key = public_key(elsewhere)  # this server has a key of its own already

    result = auction_command(elsewhere, "import-log", str(exported))

    assert result.returncode == 0, result.stderr
    assert f"this server signs with another key ({server_key})" in result.stdout
    code, verdict = verify(await export(elsewhere, tmp_path / "again.ndjson"))
    assert code == 0, verdict
    assert server_key in verdict


async def test_a_log_imported_without_its_key_is_signed_again_only_when_asked(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    exported = await export(demo, tmp_path / "log.ndjson")
    keyless = empty.model_copy(update={"data_dir": tmp_path / "no-key"})

    imported = auction_command(keyless, "import-log", str(exported))
    assert imported.returncode == 0, imported.stderr
    assert "this server has no signing key" in imported.stdout

    refused = auction_command(keyless, "signing-key")  # as the compose migrate step runs it
    assert refused.returncode == 2
    assert f"the log is signed with the key {public_key(demo)}" in refused.stderr
    rotated = auction_command(keyless, "signing-key", "--new")
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() != public_key(demo)
    again = auction_command(keyless, "signing-key", "--new")  # --new never replaces a key
    assert again.returncode == 2
    assert "to rotate, move it aside first" in again.stderr


@pytest.mark.usefixtures("frozen_export_time")
async def test_a_sqlite_backup_taken_while_the_server_runs_restores_the_same_log(
    demo: Settings, tmp_path: Path
) -> None:
    if not demo.is_sqlite:
        pytest.skip("the SQLite backup API")
    source = make_url(demo.effective_database_url).database
    backup = tmp_path / "backup.sqlite3"
    app = create_app(demo)
    async with app.router.lifespan_context(app):  # the server holds the database open
        async with asyncio.timeout(10):  # its checkpointer signs the head at start
            while not (await contents(demo))["checkpoints"]:
                await asyncio.sleep(0.05)
        # The one-liner of docs/operations.md.
        command = (
            f"import sqlite3; s=sqlite3.connect({str(source)!r}); "
            f"d=sqlite3.connect({str(backup)!r}); s.backup(d)"
        )
        subprocess.run([sys.executable, "-c", command], check=True, timeout=60)
    restored = demo.model_copy(update={"database_url": f"sqlite+aiosqlite:///{backup}"})

    original = (await export(demo, tmp_path / "a.ndjson")).read_bytes()
    assert (await export(restored, tmp_path / "b.ndjson")).read_bytes() == original
    assert await read_model(restored) == await read_model(demo)


@pytest.mark.usefixtures("frozen_export_time")
async def test_a_pg_dump_restored_with_pg_restore_exports_the_same_log(
    demo: Settings, empty: Settings, tmp_path: Path
) -> None:
    if demo.is_sqlite:
        pytest.skip("pg_dump and pg_restore are PostgreSQL's")
    dump = tmp_path / "auction.dump"
    # The commands of docs/operations.md.
    subprocess.run(
        ["pg_dump", "--format=custom", f"--file={dump}", libpq_url(demo)], check=True, timeout=120
    )
    subprocess.run(
        [
            "pg_restore",
            "--clean",
            "--if-exists",
            "--single-transaction",
            "--no-owner",
            f"--dbname={libpq_url(empty)}",
            str(dump),
        ],
        check=True,
        timeout=120,
    )

    original = (await export(demo, tmp_path / "a.ndjson")).read_bytes()
    assert (await export(empty, tmp_path / "b.ndjson")).read_bytes() == original
    assert await read_model(empty) == await read_model(demo)


def libpq_url(settings: Settings) -> str:
    url = make_url(settings.effective_database_url).set(drivername="postgresql")
    return url.render_as_string(hide_password=False)


def copy_accounts(source: Settings, target: Settings) -> None:
    """Copy the villages and users tables, as docs/operations.md shows for each database."""
    if source.is_sqlite:
        connection = sqlite3.connect(str(make_url(target.effective_database_url).database))
        with connection:
            connection.execute(
                "ATTACH DATABASE ? AS old", (str(make_url(source.effective_database_url).database),)
            )
            connection.execute("INSERT INTO villages SELECT * FROM old.villages")
            connection.execute("INSERT INTO users SELECT * FROM old.users")
        connection.close()
        return
    dump = subprocess.run(
        ["pg_dump", "--data-only", "--table=villages", "--table=users", libpq_url(source)],
        check=True,
        capture_output=True,
        timeout=120,
    )
    subprocess.run(
        ["psql", "--quiet", "--set=ON_ERROR_STOP=1", libpq_url(target)],
        input=dump.stdout,
        check=True,
        capture_output=True,
        timeout=120,
    )


async def villages_of_lots(settings: Settings) -> list[tuple[int, str]]:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            rows = await session.execute(
                select(Lot.id, Village.name).join(Village, Village.id == Lot.village_id)
            )
            return sorted((lot_id, name) for lot_id, name in rows.all())
    finally:
        await engine.dispose()
