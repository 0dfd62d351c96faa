"""The production files agree with the service: docker-compose.yml, deploy/nginx.conf and the
Dockerfile name only settings, commands, paths and services that exist. (No Docker engine runs
here; tests/slow/test_image.py follows the Dockerfile's recipe, and the slow suite runs the
same shape as processes behind Debian's nginx.)"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

from app.cli import cli
from app.config import Settings

ROOT = Path(__file__).resolve().parents[1]
SUBSTITUTION = re.compile(r"\$\{(\w+)(?::?([-?])([^}]*))?\}")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def interpolate(value: str) -> str:
    """Compose's ``${NAME:-default}`` and ``${NAME:?error}``, as if only the required were set."""

    def value_of(match: re.Match[str]) -> str:
        name, kind, default = match.groups()
        return default if kind == "-" else f"set-{name}"

    return SUBSTITUTION.sub(value_of, value)


def app_env(service: dict[str, Any]) -> dict[str, str]:
    return {name: interpolate(str(value)) for name, value in service["environment"].items()}


def test_the_shape_is_a_database_a_migration_two_replicas_redis_and_nginx(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert set(services) == {"db", "redis", "migrate", "app1", "app2", "nginx"}
    for replica in ("app1", "app2"):
        depends = services[replica]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert services["migrate"]["depends_on"]["db"]["condition"] == "service_healthy"
    nginx_waits_for = services["nginx"]["depends_on"]
    assert {name: d["condition"] for name, d in nginx_waits_for.items()} == {
        "app1": "service_healthy",
        "app2": "service_healthy",
    }
    # nginx resolves the replicas' names once: it restarts when compose recreates them.
    assert all(d["restart"] is True for d in nginx_waits_for.values())
    # Everything long-running comes back after a crash or a reboot; the migration runs once.
    for name, service in services.items():
        assert service.get("restart") == (None if name == "migrate" else "unless-stopped"), name
    for name in ("app1", "app2", "nginx"):  # a descriptor per socket, thousands of watchers
        assert services[name]["ulimits"]["nofile"] >= 65536, name


def test_every_setting_the_compose_file_gives_is_a_valid_setting(compose: dict[str, Any]) -> None:
    for name in ("migrate", "app1", "app2"):
        env = app_env(compose["services"][name])
        fields = {key.removeprefix("AUCTION_").lower(): value for key, value in env.items()}
        assert set(fields) <= set(Settings.model_fields), name
        settings = Settings.model_validate(fields)
        assert settings.env == "production"
        assert not settings.is_sqlite
        db = compose["services"]["db"]["environment"]
        assert settings.database_url.endswith(f"@db:5432/{db['POSTGRES_DB']}")
        assert settings.broker in {"postgres", "redis"}
        # Published ports would let clients bypass nginx and name themselves in X-Forwarded-For.
        assert settings.forwarded_allow_ips == "*"
        assert "ports" not in compose["services"][name]


def test_the_commands_are_commands_of_the_service(compose: dict[str, Any]) -> None:
    commands = set(typer.main.get_command(cli).commands)  # type: ignore[attr-defined]
    migrate = compose["services"]["migrate"]["command"][-1]
    assert re.findall(r"auction ([\w-]+)", migrate) == ["migrate", "signing-key"]
    assert {"migrate", "signing-key"} <= commands
    for replica in ("app1", "app2"):
        assert compose["services"][replica]["command"] == ["auction", "serve"]
    assert "serve" in commands


def test_the_replicas_share_the_signing_key_the_migration_makes(compose: dict[str, Any]) -> None:
    services = compose["services"]
    key_file = Path(services["migrate"]["environment"]["AUCTION_SIGNING_KEY_FILE"])
    for name in ("migrate", "app1", "app2"):
        assert services[name]["environment"]["AUCTION_SIGNING_KEY_FILE"] == str(key_file)
        mounts = dict(v.split(":")[:2][::-1] for v in services[name]["volumes"])
        assert mounts[str(key_file.parent)] == "keys"


def test_health_checks_and_the_stop_grace_fit_the_service(compose: dict[str, Any]) -> None:
    paths = {getattr(route, "path", None) for route in _app_routes()}
    for replica in ("app1", "app2"):
        service = compose["services"][replica]
        probe = " ".join(service["healthcheck"]["test"])
        url = re.search(r"http://127\.0\.0\.1:(\d+)(/\w+)", probe)
        assert url is not None
        assert int(url.group(1)) == Settings.model_fields["port"].default
        assert url.group(2) == "/readyz"
        assert url.group(2) in paths
        grace = int(service["stop_grace_period"].removesuffix("s"))
        default = Settings.model_fields["graceful_shutdown_s"].default
        assert grace > int(app_env(service).get("AUCTION_GRACEFUL_SHUTDOWN_S", default))


def test_nginx_balances_over_exactly_the_replicas() -> None:
    config = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream auction \{(.*?)\}", config, re.DOTALL)
    assert upstream is not None
    assert re.findall(r"server (\S+?):(\d+)", upstream.group(1)) == [
        ("app1", "8000"),
        ("app2", "8000"),
    ]
    # Each location names the client itself, overwriting what the client sent: the replicas
    # trust the header (AUCTION_FORWARDED_ALLOW_IPS), so an appended one could be forged.
    locations = re.findall(r"location (?:= )?\S+ \{(.*?)\n        \}", config, re.DOTALL)
    proxied = [location for location in locations if "proxy_pass" in location]
    assert len(locations) == 3
    assert len(proxied) == 2
    for location in proxied:
        assert "proxy_set_header X-Forwarded-For $remote_addr;" in location
    # WebSocket upgrades pass through, with a read timeout above the app's ping interval.
    assert "proxy_set_header Upgrade $http_upgrade;" in config
    read_timeout = re.search(r"proxy_read_timeout (\d+)s;", config)
    assert read_timeout is not None
    assert int(read_timeout.group(1)) > Settings.model_fields["ws_ping_interval_s"].default


def test_the_build_context_holds_what_the_image_copies_and_nothing_private() -> None:
    copied = set()
    for line in (ROOT / "Dockerfile").read_text().splitlines():
        if line.startswith("COPY ") and "--from" not in line:
            copied.update(part.rstrip("/") for part in line.split()[1:-1])
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    included = {line[1:] for line in ignore if line.startswith("!")}
    assert "*" in ignore  # everything else stays out: .venv, data/ (database, key), .git
    assert copied == included


def test_the_image_runs_as_an_unprivileged_user_where_the_migrations_are() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    final_stage = dockerfile.rsplit("FROM ", 1)[1]
    user = re.search(r"^USER (\S+)$", final_stage, re.MULTILINE)
    assert user is not None
    assert user.group(1) not in {"root", "0"}
    workdir = re.search(r"^WORKDIR (\S+)$", final_stage, re.MULTILINE)
    assert workdir is not None
    # app/schema.py finds alembic.ini and migrations/ in the working directory when installed.
    for name in ("alembic.ini", "migrations"):
        assert re.search(rf"^COPY .* {workdir.group(1)}/{name}$", final_stage, re.MULTILINE), name


def _app_routes() -> list[Any]:
    from app.main import create_app

    return list(create_app(Settings(env="test", secret_key="x" * 32)).routes)
