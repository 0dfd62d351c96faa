"""The container image's recipe, followed on this machine (there is no Docker engine here).

The Dockerfile installs ``requirements.lock`` (the runtime pins alone, none of the dev tools) into
a virtual environment, then the package itself (not editable), copies ``alembic.ini`` and
``migrations/`` to ``/app``, and runs ``auction`` there as an unprivileged user, with its data in
``/data``. The compose file's ``migrate`` service runs ``auction migrate && auction signing-key``
once; then each replica runs ``auction serve``, checked by ``/readyz``, and is stopped with
SIGTERM. This test does all of that, in that order, outside the source tree: an import missing
from the runtime lock, a file the installed package cannot find, or a write the unprivileged user
may not make fails here instead of on the first deployment.
"""

from __future__ import annotations

import functools
import os
import pwd
import re
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.servers import free_port

pytestmark = pytest.mark.slow

SOURCE = Path(__file__).resolve().parents[2]
IMAGE_FILES = ("pyproject.toml", "README.md", "alembic.ini", "app", "migrations")
"""What the Dockerfile's build stage copies from the source tree."""


@pytest.fixture(scope="module")
def image() -> Iterator[Path]:
    """A directory laid out like the image: ``venv`` (the installed service) and ``app``."""
    root = Path(tempfile.mkdtemp(prefix="auction-image-"))
    root.chmod(0o755)  # the unprivileged user must reach the virtual environment
    try:
        source = root / "src"
        source.mkdir()
        for name in IMAGE_FILES:
            copy = shutil.copytree if (SOURCE / name).is_dir() else shutil.copyfile
            copy(SOURCE / name, source / name)
        shutil.rmtree(source / "app" / "__pycache__", ignore_errors=True)
        venv = root / "venv"
        run([python_for(unprivileged()), "-m", "venv", str(venv)])
        pip = [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "--no-cache-dir"]
        run([*pip, "--require-hashes", "-r", str(SOURCE / "requirements.lock")])
        run([*pip, "--no-deps", str(source)])
        (root / "app").mkdir()
        shutil.copyfile(source / "alembic.ini", root / "app" / "alembic.ini")
        shutil.copytree(source / "migrations", root / "app" / "migrations")
        shutil.rmtree(source)
        yield root
    finally:
        shutil.rmtree(root, ignore_errors=True)


def run(command: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=600, check=False, **kwargs
    )
    if done.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}")
    return done


@functools.cache
def unprivileged() -> dict[str, Any]:
    """Run as ``nobody`` when the tests run as root (a CI container), as the image runs; unless
    no Python 3.11+ is there that ``nobody`` may run."""
    if os.geteuid() != 0 or not usable_by_others(SYSTEM_PYTHON):
        return {}
    nobody = pwd.getpwnam("nobody")
    return {"user": nobody.pw_uid, "group": nobody.pw_gid, "extra_groups": []}


SYSTEM_PYTHON = Path("/usr/bin/python3")
"""Debian's Python 3.11 (the image's version); this run's own may sit in root's home."""


def usable_by_others(python: Path) -> bool:
    """Whether any user may run ``python``: it and every directory above it executable by all,
    and a Python at least as new as the image's."""
    path = python.resolve()
    if not path.exists() or not all(p.stat().st_mode & stat.S_IXOTH for p in [path, *path.parents]):
        return False
    probe = "import sys, venv, ensurepip; print(sys.version_info >= (3, 11))"
    version = subprocess.run([path, "-c", probe], capture_output=True, text=True, check=False)
    return version.stdout.strip() == "True"


def python_for(user: dict[str, Any]) -> str:
    """The interpreter to build the image's virtual environment with, for ``user``."""
    return str(SYSTEM_PYTHON) if user else sys.executable


async def test_the_image_recipe_migrates_makes_its_key_serves_and_stops(
    image: Path, empty_database_url: str
) -> None:
    data, keys = image / "data", image / "keys"
    user = unprivileged()
    for directory in (data, keys):  # `mkdir /data /keys && chown auction /data /keys`
        directory.mkdir(exist_ok=True)
        if user:
            os.chown(directory, user["user"], user["group"])
    port = free_port()
    env = {
        "PATH": f"{image / 'venv' / 'bin'}:/usr/bin:/bin",
        "HOME": str(data),
        "AUCTION_ENV": "production",
        "AUCTION_SECRET_KEY": "a-production-secret-for-this-test",
        "AUCTION_DATA_DIR": str(data),
        "AUCTION_SIGNING_KEY_FILE": str(keys / "log-signing-key.pem"),
        "AUCTION_PORT": str(port),
    }
    if not empty_database_url.startswith("sqlite"):
        env["AUCTION_DATABASE_URL"] = empty_database_url
    # On SQLite the image's own default applies: a database file in /data.
    auction = str(image / "venv" / "bin" / "auction")
    options = {"cwd": image / "app", "env": env, **user}

    run([auction, "migrate"], **options)
    first_key = run([auction, "signing-key"], **options).stdout
    assert run([auction, "signing-key"], **options).stdout == first_key  # made once, then kept
    if user:  # made by the unprivileged user, readable by it alone
        assert (keys / "log-signing-key.pem").stat().st_uid == user["user"]

    log = (image / "serve.log").open("wb")
    server = subprocess.Popen([auction, "serve"], stdout=log, stderr=log, **options)
    try:
        url = f"http://127.0.0.1:{port}"
        ready = wait_ready(url, server, image / "serve.log")
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/api/lots")).status_code == 200
            assert "auction_bids_total" in (await client.get("/metrics")).text
            page = await client.get("/")  # templates, translations and static files too
            assert page.status_code == 200
            styles = re.findall(r'href="(/static/[^"]+)"', page.text)
            assert styles
            for style in styles:
                assert (await client.get(style)).status_code == 200, style
            key = (await client.get("/.well-known/auction-log-key")).json()
        assert key["public_key"] == first_key.strip()
        server.send_signal(signal.SIGTERM)  # `docker compose stop`
        # Having shut down, uvicorn ends the process by the signal it got (docs/operations.md).
        assert server.wait(30) == -signal.SIGTERM
        assert b"Traceback" not in (image / "serve.log").read_bytes()
    finally:
        if server.poll() is None:
            server.kill()
            server.wait(10)
        log.close()
    assert ready < 30


def wait_ready(url: str, server: subprocess.Popen[bytes], log: Path) -> float:
    """Seconds until ``/readyz`` answers 200, as the compose healthcheck asks."""
    started = time.monotonic()
    while time.monotonic() - started < 60:
        if server.poll() is not None:
            raise AssertionError(f"auction serve exited:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return time.monotonic() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"/readyz never answered:\n{log.read_text()[-3000:]}")
