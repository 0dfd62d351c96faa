"""nginx (deploy/nginx.conf) names each client to the app; a client cannot name itself."""

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
