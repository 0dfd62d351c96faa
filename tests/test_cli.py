"""The ``auction`` command: bad configuration stops it with one clear line, not a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from app.accounts.security import configure_password_hashing
from app.audit.checkpoints import checkpoint_signer, sign_due_checkpoints
from app.audit.keys import KEY_FILE, load_or_create_signer
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.demo import load_demo


def run_auction(
    *args: str, env: dict[str, str], stdin: str = ""
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AUCTION_")}
    return subprocess.run(
        [sys.executable, "-m", "app", *args],
        env={**clean, **env},
        input=stdin,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        ({"AUCTION_ENV": "production"}, "AUCTION_SECRET_KEY must be set"),
        ({"AUCTION_ENV": "staging"}, "AUCTION_ENV:"),
        ({"AUCTION_PORT": "eighty"}, "AUCTION_PORT:"),
        (
            {"AUCTION_FORWARDED_ALLOW_IPS": "10.0.0.1,nginx"},
            "AUCTION_FORWARDED_ALLOW_IPS: 'nginx' is not an IP address or network",
        ),
        ({"AUCTION_DATABSE_URL": "sqlite+aiosqlite:///x"}, "unknown setting AUCTION_DATABSE_URL"),
        (
            {"AUCTION_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"},
            "cannot use the database",
        ),
    ],
)
def test_bad_configuration_stops_with_one_clear_line(
    env: dict[str, str], expected: str, tmp_path: Path
) -> None:
    result = run_auction("migrate", env={"AUCTION_DATA_DIR": str(tmp_path), **env})
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr


def test_demo_loads_once_and_prints_the_logins(tmp_path: Path) -> None:
    env = {"AUCTION_DATA_DIR": str(tmp_path)}
    first = run_auction("demo", env=env)
    assert first.returncode == 0, first.stderr
    assert "meige" in first.stdout
    assert "demo-pass-2026" in first.stdout
    assert "loaded." in first.stdout

    second = run_auction("demo", env=env)
    assert second.returncode == 0, second.stderr
    assert "already loaded" in second.stdout


def test_create_admin_reads_the_password_from_stdin(tmp_path: Path) -> None:
    env = {"AUCTION_DATA_DIR": str(tmp_path)}
    assert run_auction("migrate", env=env).returncode == 0
    result = run_auction(
        "create-admin", "root-admin", "--password-stdin", env=env, stdin="a long password\n"
    )
    assert result.returncode == 0, result.stderr
    again = run_auction(
        "create-admin", "root-admin", "--password-stdin", env=env, stdin="a long password\n"
    )
    assert again.returncode == 2
    assert "taken" in again.stderr


def test_the_signing_key_is_made_once_and_kept(tmp_path: Path) -> None:
    env = {"AUCTION_DATA_DIR": str(tmp_path)}
    first = run_auction("signing-key", env=env)
    second = run_auction("signing-key", env=env)
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout
    assert len(first.stdout.strip()) == 44  # base64 of a 32-byte Ed25519 public key
    assert oct((tmp_path / "log-signing-key.pem").stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "auction.sqlite3").exists()  # looking for a log made no database


def test_a_named_signing_key_file_is_made_by_the_command_and_never_by_the_server(
    tmp_path: Path,
) -> None:
    key_file = tmp_path / "keys" / "shared.pem"
    env = {
        "AUCTION_DATA_DIR": str(tmp_path / "data"),
        "AUCTION_SIGNING_KEY_FILE": str(key_file),
        "AUCTION_PORT": "1",  # never reached: start-up stops before listening
    }
    assert run_auction("migrate", env=env).returncode == 0
    for refused in (
        run_auction("serve", env=env),
        run_auction("export-log", str(tmp_path / "log.ndjson"), env=env),
    ):
        assert refused.returncode == 2
        assert refused.stderr.strip().splitlines() == [
            f"error: cannot use the signing key: the signing key file {key_file} does not exist"
            " (`auction signing-key` makes it)"
        ]
    assert not key_file.exists()

    made = run_auction("signing-key", env=env)
    assert made.returncode == 0, made.stderr
    assert run_auction("signing-key", env=env).stdout == made.stdout
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"


async def test_a_lost_key_is_not_silently_replaced_once_the_log_is_signed(
    settings: Settings,
) -> None:
    configure_password_hashing(settings.argon2_time_cost, settings.argon2_memory_kib)
    assert await load_demo(settings)
    old_key = load_or_create_signer(settings.data_dir)
    engine = create_engine(settings)
    try:
        assert await sign_due_checkpoints(create_sessionmaker(engine), checkpoint_signer(old_key))
    finally:
        await engine.dispose()
    (settings.data_dir / KEY_FILE).unlink()  # a new volume, or a restore without the key
    env = {
        "AUCTION_DATABASE_URL": settings.effective_database_url,
        "AUCTION_DATA_DIR": str(settings.data_dir),
    }

    for command in ("signing-key", "serve"):  # neither makes a key of its own
        refused = run_auction(command, env=env)
        assert refused.returncode == 2
        assert f"the log is signed with the key {old_key.public_key_b64}" in refused.stderr
        assert not (settings.data_dir / KEY_FILE).exists()

    rotated = run_auction("signing-key", "--new", env=env)
    assert rotated.returncode == 0, rotated.stderr
    assert rotated.stdout.strip() not in ("", old_key.public_key_b64)
