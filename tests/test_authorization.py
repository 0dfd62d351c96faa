"""Who may do what: every role (and anonymous) against every endpoint that changes something.

A refused request answers 401, 403 or 404 and changes nothing: the event log and every table
stay exactly as they were.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import func, select

from app.accounts.models import Role, User, Village
from app.audit.models import EventRecord
from app.lots.models import Lot, Registration
from tests.factories import (
    TIMED_LOT,
    Person,
    approve_bidder,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)

ROLES = ("anonymous", "admin", "official_a", "official_b", "auditor", "bidder", "approved")


@dataclass
class World:
    people: dict[str, Person | None]
    ids: dict[str, int]


@pytest.fixture
async def world(client: httpx.AsyncClient, app: FastAPI) -> World:
    maker = app.state.sessionmaker
    village_a = await make_village(maker, "梅阁村")
    village_b = await make_village(maker, "沙西村")
    people: dict[str, Person | None] = {
        "anonymous": None,
        "admin": await make_person(client, maker, Role.ADMIN),
        "official_a": await make_person(client, maker, Role.OFFICIAL, village_a),
        "official_b": await make_person(client, maker, Role.OFFICIAL, village_b),
        "auditor": await make_person(client, maker, Role.AUDITOR),
        "bidder": await make_person(client, maker, Role.BIDDER),
        "approved": await make_person(client, maker, Role.BIDDER),
    }
    official = people["official_a"]
    approved = people["approved"]
    assert official is not None
    assert approved is not None

    draft = await create_lot(client, official)
    registering = await create_lot(client, official)
    await lifecycle(client, registering["id"], official, "publish")
    pending = await client.post(
        f"/api/lots/{registering['id']}/registrations", json={}, headers=approved.headers
    )
    live = await create_lot(client, official)
    await lifecycle(client, live["id"], official, "publish")
    await approve_bidder(client, live["id"], official, approved)
    await lifecycle(client, live["id"], official, "open")
    ids = {
        "draft": draft["id"],
        "registering": registering["id"],
        "live": live["id"],
        "registration": pending.json()["id"],
        "village_a": village_a,
    }
    return World(people, ids)


# (method, path, body, roles allowed)
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None, set[str]]] = [
    ("POST", "/api/villages", {"name": "新村", "township": "沙堆镇"}, {"admin"}),
    (
        "POST",
        "/api/users",
        {"username": "newofficial", "password": "long enough pw", "role": "auditor"},
        {"admin"},
    ),
    ("POST", "/api/lots", TIMED_LOT, {"official_a", "official_b"}),
    ("PATCH", "/api/lots/{draft}", {"title": "改名"}, {"official_a"}),
    ("POST", "/api/lots/{draft}/publish", None, {"official_a"}),
    ("POST", "/api/lots/{registering}/open", None, {"official_a"}),
    ("POST", "/api/lots/{live}/pause", {"reason": "网络故障"}, {"official_a"}),
    ("POST", "/api/lots/{live}/close", {"reason": "提前结束"}, {"official_a"}),
    ("POST", "/api/lots/{live}/cancel", {"reason": "终止"}, {"official_a"}),
    ("GET", "/api/lots/{registering}/registrations", None, {"official_a", "auditor"}),
    (
        "POST",
        "/api/lots/{registering}/registrations/{registration}/approve",
        {"deposit_fen": 100},
        {"official_a"},
    ),
    (
        "POST",
        "/api/lots/{registering}/registrations/{registration}/reject",
        {"reason": "材料不全"},
        {"official_a"},
    ),
    ("POST", "/api/lots/{registering}/registrations", {}, {"bidder", "approved"}),
    ("POST", "/api/lots/{live}/bids", {"amount_fen": 30_000_000}, {"approved"}),
    ("POST", "/api/lots/{live}/priority", {"decision": "match"}, {"approved", "bidder"}),
    ("GET", "/api/me/registrations", None, {"bidder", "approved"}),
]

CASES = [
    pytest.param(method, path, body, role, id=f"{role}-{method}-{path}")
    for method, path, body, allowed in ENDPOINTS
    for role in ROLES
    if role not in allowed
]


async def fingerprint(app: FastAPI) -> tuple[int, ...]:
    async with app.state.sessionmaker() as session:
        counts = []
        for model in (EventRecord, Lot, Registration, User, Village):
            counts.append(
                (await session.execute(select(func.count()).select_from(model))).scalar_one()
            )
        lots = (
            await session.execute(select(Lot.seq, Lot.status, Lot.title).order_by(Lot.id))
        ).all()
    return (*counts, hash(tuple(lots)))


@pytest.mark.parametrize(("method", "path", "body", "role"), CASES)
async def test_a_forbidden_request_is_refused_and_changes_nothing(
    client: httpx.AsyncClient,
    app: FastAPI,
    world: World,
    method: str,
    path: str,
    body: dict[str, Any] | None,
    role: str,
) -> None:
    person = world.people[role]
    before = await fingerprint(app)

    response = await client.request(
        method,
        path.format(**world.ids),
        json=body,
        headers={**(person.headers if person else {}), "Idempotency-Key": "authz"},
    )

    assert response.status_code in {401, 403, 404}, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert await fingerprint(app) == before


async def test_nobody_but_the_lots_officials_and_auditors_sees_identities(
    client: httpx.AsyncClient, world: World
) -> None:
    for role in ROLES:
        person = world.people[role]
        headers = person.headers if person else {}
        snapshot = await client.get(f"/api/lots/{world.ids['live']}", headers=headers)
        assert snapshot.status_code == 200
        approved = world.people["approved"]
        assert approved is not None
        assert approved.username not in snapshot.text
        assert "138 0000" not in snapshot.text
        listing = await client.get(f"/api/lots/{world.ids['live']}/registrations", headers=headers)
        if role in {"official_a", "auditor"}:
            assert "138 0000 0000" in listing.text
        else:
            assert listing.status_code in {401, 403}
            assert "138 0000" not in listing.text


async def test_a_draft_is_invisible_to_the_public(client: httpx.AsyncClient, world: World) -> None:
    draft = world.ids["draft"]
    assert (await client.get(f"/api/lots/{draft}")).status_code == 404
    bidder = world.people["bidder"]
    assert bidder is not None
    assert (await client.get(f"/api/lots/{draft}", headers=bidder.headers)).status_code == 404
    listed = await client.get("/api/lots")
    assert draft not in [lot["id"] for lot in listed.json()["items"]]
    official = world.people["official_a"]
    assert official is not None
    assert (await client.get(f"/api/lots/{draft}", headers=official.headers)).status_code == 200
