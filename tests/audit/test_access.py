"""Who may download what: identities only for auditors and the lot's own officials."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from app.accounts.models import Role
from tests.audit.world import World, closed_lot_world
from tests.factories import Person, make_person


@pytest.fixture
async def world(client: httpx.AsyncClient, app: FastAPI) -> World:
    return await closed_lot_world(client, app, bids=2)


def _people(world: World, admin: Person) -> dict[str, Person | None]:
    return {
        "anonymous": None,
        "admin": admin,
        "official": world.official,
        "other_official": world.other_official,
        "auditor": world.auditor,
        "bidder": world.bidders[0][0],
    }


EXPECTED = {
    "/api/lots/{lot}/history.json": {"official": 200, "auditor": 200},
    "/api/lots/{lot}/history.csv": {"official": 200, "auditor": 200},
    "/api/audit/log.ndjson": {"auditor": 200},
    "/api/audit/events?lot_id={lot}": {"auditor": 200},
    "/api/audit/checkpoint": dict.fromkeys(
        ("anonymous", "admin", "official", "other_official", "auditor", "bidder"), 200
    ),
    "/.well-known/auction-log-key": dict.fromkeys(
        ("anonymous", "admin", "official", "other_official", "auditor", "bidder"), 200
    ),
}


async def test_only_auditors_and_the_lots_officials_download_identities(
    client: httpx.AsyncClient, app: FastAPI, world: World
) -> None:
    admin = await make_person(client, app.state.sessionmaker, Role.ADMIN)
    bidder, _ = world.bidders[0]
    for path, allowed in EXPECTED.items():
        for role, person in _people(world, admin).items():
            headers = person.headers if person else {}
            response = await client.get(path.format(lot=world.lot_id), headers=headers)
            expected = allowed.get(role, 401 if person is None else 403)
            assert response.status_code == expected, (path, role, response.text)
            if expected != 200:
                assert response.headers["content-type"] == "application/problem+json"
                assert bidder.username not in response.text
                assert "138 0000" not in response.text


async def test_the_history_names_the_people_behind_the_numbers(
    client: httpx.AsyncClient, world: World
) -> None:
    (chen, chen_number), _ = world.bidders
    response = await client.get(
        f"/api/lots/{world.lot_id}/history.json", headers=world.official.headers
    )
    history = response.json()

    bidders = {b["bidder_number"]: b for b in history["bidders"]}
    assert bidders[chen_number]["username"] == chen.username
    assert bidders[chen_number]["phone"] == "138 0000 0000"
    bids = [e for e in history["events"] if e["type"] == "bid_placed"]
    assert bids[0]["bidder_number"] == chen_number
    assert chen.username in bids[0]["bidder_name"]
    assert chen.username in bids[0]["actor_name"]


async def test_the_history_of_an_unknown_lot_is_not_found(
    client: httpx.AsyncClient, world: World
) -> None:
    response = await client.get("/api/lots/999999/history.json", headers=world.auditor.headers)
    assert (response.status_code, response.json()["code"]) == (404, "lot_not_found")
