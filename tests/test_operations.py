"""The service's own health: liveness, readiness and the shape of its errors."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from app.config import Settings
from app.db import create_engine
from tests.servers import Server


async def test_healthz_answers_while_the_process_is_up(client: httpx.AsyncClient) -> None:
    response = await client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


async def test_readyz_answers_when_the_database_is_at_the_latest_migration(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}


async def test_readyz_refuses_when_the_schema_is_behind(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    engine = create_engine(settings)
    async with engine.begin() as connection:
        await connection.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    await engine.dispose()

    response = await client.get("/readyz")

    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "schema_outdated"


async def test_readyz_says_the_database_is_unreachable_without_saying_where_it_is(
    client: httpx.AsyncClient, app: FastAPI, settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    unreachable = "postgresql+asyncpg://auction:hunter2@127.0.0.1:9/auction"
    working, app.state.engine = (
        app.state.engine,
        create_engine(settings.model_copy(update={"database_url": unreachable})),
    )
    try:
        response = await client.get("/readyz")
    finally:
        await app.state.engine.dispose()
        app.state.engine = working

    assert response.status_code == 503
    assert response.json()["code"] == "database_unavailable"
    assert "127.0.0.1" not in response.text
    assert "hunter2" not in response.text
    assert "not reachable" in caplog.text  # the operator finds the reason in the log


async def test_an_unknown_path_is_a_problem_with_a_stable_code(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["code"] == "not_found"
    assert set(body) >= {"type", "title", "status", "detail", "code"}


async def test_the_openapi_docs_are_served(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    assert (await client.get("/openapi.json")).json()["info"]["title"]


async def test_every_response_carries_a_request_id(client: httpx.AsyncClient) -> None:
    given = await client.get("/healthz", headers={"X-Request-ID": "from-the-proxy-42"})
    assert given.headers["x-request-id"] == "from-the-proxy-42"
    fresh = await client.get("/healthz")
    assert len(fresh.headers["x-request-id"]) == 32


def test_log_lines_are_json_with_the_request_id() -> None:
    import json
    import logging

    from app.observability import JsonFormatter, request_id

    token = request_id.set("abc123")
    try:
        record = logging.makeLogRecord(
            {"name": "app.access", "levelname": "INFO", "msg": "GET /x 200", "status": 200}
        )
        line = json.loads(JsonFormatter().format(record))
    finally:
        request_id.reset(token)
    assert line["request_id"] == "abc123"
    assert line["status"] == 200
    assert line["time"].endswith("Z")


async def test_behind_a_trusted_proxy_each_client_is_throttled_by_its_own_address(
    settings: Settings, tmp_path: Path
) -> None:
    """The proxy names the client in X-Forwarded-For; only a proxy the settings trust may."""
    limit = {"AUCTION_LOGIN_ATTEMPTS_PER_MINUTE_PER_ADDRESS": "3"}
    trusting = Server(settings, tmp_path, **limit).start()  # trusts 127.0.0.1, the default
    distrusting = Server(settings, tmp_path, AUCTION_FORWARDED_ALLOW_IPS="10.9.9.9", **limit)
    distrusting.start()
    answers = {}
    try:
        for server in (trusting, distrusting):
            async with httpx.AsyncClient(base_url=server.url) as proxy:
                for n in range(3):
                    await sign_in_as(proxy, f"guess-{n}", forwarded_for="10.0.0.1")
                answers[server] = await sign_in_as(proxy, "guess-3", forwarded_for="10.0.0.2")
    finally:
        trusting.stop()
        distrusting.stop()
    assert answers[trusting].json()["code"] == "invalid_credentials"  # another client
    assert answers[distrusting].json()["code"] == "too_many_attempts"  # all one address


async def sign_in_as(
    client: httpx.AsyncClient, username: str, forwarded_for: str
) -> httpx.Response:
    return await client.post(
        "/api/auth/token",
        data={"username": username, "password": "wrong password"},
        headers={"X-Forwarded-For": forwarded_for},
    )
