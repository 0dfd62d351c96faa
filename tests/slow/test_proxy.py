"""What nginx (deploy/nginx.conf) adds in front of the app: it names each client (a client
cannot name itself), keeps each replica's metrics off the public site, and leaves oversized
bodies to the app's own answer."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from app.config import Settings
from tests.slow.shape import production_shape

pytestmark = pytest.mark.slow


async def test_a_client_forging_x_forwarded_for_through_nginx_is_still_itself(
    settings: Settings, tmp_path: Path
) -> None:
    env = {"AUCTION_LOGIN_ATTEMPTS_PER_MINUTE_PER_ADDRESS": "3"}
    async with production_shape(settings, tmp_path, env, processes=1) as shape:
        async with httpx.AsyncClient(base_url=shape.url) as client:
            codes = []
            for n in range(4):
                answer = await client.post(
                    "/api/auth/token",
                    data={"username": f"guess-{n}", "password": "wrong password"},
                    headers={"X-Forwarded-For": f"10.0.0.{n}"},  # a new address each time
                )
                codes.append(answer.json()["code"])
    assert codes == ["invalid_credentials"] * 3 + ["too_many_attempts"]


async def test_metrics_stay_inside_and_an_oversized_body_gets_the_apps_answer(
    settings: Settings, tmp_path: Path
) -> None:
    async with production_shape(settings, tmp_path, {}, processes=1) as shape:
        async with httpx.AsyncClient(base_url=shape.url) as client:
            public_metrics = await client.get("/metrics")
            too_big = await client.post(
                "/api/auth/register",
                content=b'{"username": "' + b"x" * 100_000 + b'"}',
                headers={"Content-Type": "application/json"},
            )
        async with httpx.AsyncClient(base_url=shape.servers[0].url) as inside:
            scraped = await inside.get("/metrics")
    assert public_metrics.status_code == 404
    assert public_metrics.json()["code"] == "not_found"  # a problem, as every error of the API
    assert scraped.status_code == 200
    assert too_big.status_code == 413
    assert too_big.headers["content-type"] == "application/problem+json"
    assert too_big.json()["code"] == "body_too_large"
