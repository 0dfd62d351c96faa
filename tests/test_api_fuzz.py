"""Schemathesis against a real server: no generated request makes the API answer 5xx or a
response that breaks its own OpenAPI schema."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import content_type_conformance, response_schema_conformance

from app.accounts.models import Role
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from tests.conftest import Databases
from tests.factories import (
    Person,
    approve_bidder,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.servers import Server

BIDDER_PATHS = ("/bids", "/priority", "/me", "/registrations")


@dataclass
class Api:
    url: str
    official: Person
    bidder: Person

    def headers_for(self, path: str, method: str) -> dict[str, str]:
        as_bidder = any(part in path for part in BIDDER_PATHS) and not (
            path.endswith("/registrations") and method == "GET"
        )
        return (self.bidder if as_bidder else self.official).headers


@pytest.fixture(scope="module")
async def api(databases: Databases, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Api]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    database_url = await databases.create()
    settings = Settings(
        env="test",
        secret_key="fuzz-secret-key-not-for-production",
        database_url=database_url,
        data_dir=tmp,
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )
    server = Server(settings, tmp).start()
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
            bidder = await make_person(client, maker, Role.BIDDER)
            lot = await create_lot(client, official)
            await lifecycle(client, lot["id"], official, "publish")
            await approve_bidder(client, lot["id"], official, bidder)
            await lifecycle(client, lot["id"], official, "open")
        yield Api(server.url, official, bidder)
    finally:
        server.stop()
        await engine.dispose()
        await databases.drop(database_url)


def test_no_request_makes_the_api_fail_or_break_its_own_schema(api: Api) -> None:
    schema = schemathesis.openapi.from_url(f"{api.url}/openapi.json")
    failures: dict[str, str] = {}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) > 20
    for operation in operations:

        @given(case=operation.as_strategy())
        @hypothesis_settings(
            max_examples=12, deadline=None, suppress_health_check=list(HealthCheck)
        )
        def check(case: schemathesis.Case) -> None:
            case.call_and_validate(
                base_url=api.url,
                headers=api.headers_for(case.path, case.method),
                checks=[not_a_server_error, response_schema_conformance, content_type_conformance],
            )

        try:
            check()
        except Exception as exc:  # noqa: BLE001 - collect every operation's failure
            failures[operation.label] = str(exc)[:2000]
    assert not failures, "\n\n".join(f"{label}: {text}" for label, text in failures.items())
