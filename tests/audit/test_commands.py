"""``auction export-log`` and ``auction verify`` (and ``python -m app.audit.verify``) end to end."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx
from fastapi import FastAPI

from app.config import Settings
from tests.audit.world import closed_lot_world


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUCTION_")}
    return subprocess.run(
        [sys.executable, *args],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def test_an_exported_log_verifies_from_the_command_line_and_an_edit_does_not(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, tmp_path: Path
) -> None:
    world = await closed_lot_world(client, app, bids=2)
    env = {
        "AUCTION_DATABASE_URL": settings.database_url,
        "AUCTION_DATA_DIR": str(settings.data_dir),
    }
    target = tmp_path / "log.ndjson"

    exported = run("-m", "app", "export-log", str(target), env=env)
    assert exported.returncode == 0, exported.stderr
    valid = run("-m", "app", "verify", str(target), "--public-key", world.key)
    assert valid.returncode == 0, valid.stdout + valid.stderr
    assert valid.stdout.startswith("valid log export: ")

    target.write_bytes(target.read_bytes().replace(b"30500000", b"30600000", 1))
    tampered = run("-m", "app.audit.verify", str(target), "--public-key", world.key)
    assert tampered.returncode == 1
    assert tampered.stdout.startswith("TAMPERED at seq ")
    assert "Traceback" not in tampered.stderr


def test_verify_says_in_one_line_when_a_file_cannot_be_read(tmp_path: Path) -> None:
    missing = run("-m", "app", "verify", str(tmp_path / "nothing.ndjson"))
    assert missing.returncode == 2
    assert len(missing.stderr.strip().splitlines()) == 1
    assert missing.stderr.startswith("error: cannot read")


def test_importing_the_verifier_loads_no_database_framework_or_event_loop() -> None:
    probe = "import sys, app.audit.verify; print(' '.join(sorted(sys.modules)))"
    loaded = run("-c", probe).stdout.split()
    for name in ("asyncio", "sqlalchemy", "fastapi", "pydantic", "starlette", "sqlite3"):
        assert name not in loaded, f"importing the verifier loads {name}"
