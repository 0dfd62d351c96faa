"""Helpers that set up people and lots through the real API, as a client would."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts import service as accounts
from app.accounts.models import Role

PASSWORD = "correct horse battery"
_counter = itertools.count(1)


@dataclass
class Person:
    id: int
    username: str
    role: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


async def sign_in(client: httpx.AsyncClient, username: str, password: str = PASSWORD) -> str:
    response = await client.post(
        "/api/auth/token", data={"username": username, "password": password}
    )
    assert response.status_code == 200, response.text
    client.cookies.clear()  # these people are API clients: bearer tokens, no cookie session
    token: str = response.json()["access_token"]
    return token


async def make_person(
    client: httpx.AsyncClient,
    maker: async_sessionmaker[AsyncSession],
    role: Role,
    village_id: int | None = None,
    name: str | None = None,
) -> Person:
    username = name or f"{role.value}{next(_counter)}"
    async with maker() as session, session.begin():
        user = await accounts.create_user(
            session,
            username=username,
            password=PASSWORD,
            role=role,
            village_id=village_id,
            display_name=username.title(),
            phone="138 0000 0000",
        )
    return Person(user.id, username, role.value, await sign_in(client, username))


async def make_village(maker: async_sessionmaker[AsyncSession], name: str = "梅阁村") -> int:
    async with maker() as session, session.begin():
        village = await accounts.create_village(session, name=name, township="沙堆镇")
    return village.id


TIMED_LOT: dict[str, Any] = {
    "title": "梅阁市场租赁经营权",
    "asset_kind": "market",
    "description": "Meige market operating lease",
    "location": "梅阁村",
    "area_m2": 3200,
    "lease_term_months": 60,
    "format": "timed",
    "rules": {"start_price_fen": 30_000_000, "step_fen": 500_000, "countdown_s": 300},
}


async def create_lot(
    client: httpx.AsyncClient, official: Person, body: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await client.post("/api/lots", json=body or TIMED_LOT, headers=official.headers)
    assert response.status_code == 201, response.text
    lot: dict[str, Any] = response.json()
    return lot


async def approve_bidder(
    client: httpx.AsyncClient,
    lot_id: int,
    official: Person,
    bidder: Person,
    initial_bid_fen: int | None = None,
    priority: bool = False,
) -> str:
    body = {} if initial_bid_fen is None else {"initial_bid_fen": initial_bid_fen}
    response = await client.post(
        f"/api/lots/{lot_id}/registrations", json=body, headers=bidder.headers
    )
    assert response.status_code == 201, response.text
    registration_id = response.json()["id"]
    response = await client.post(
        f"/api/lots/{lot_id}/registrations/{registration_id}/approve",
        json={"deposit_fen": 5_000_000, "priority": priority},
        headers=official.headers,
    )
    assert response.status_code == 200, response.text
    number: str = response.json()["bidder_number"]
    return number


async def lifecycle(
    client: httpx.AsyncClient, lot_id: int, official: Person, action: str, reason: str = ""
) -> dict[str, Any]:
    body = {"reason": reason} if reason else None
    response = await client.post(
        f"/api/lots/{lot_id}/{action}", json=body, headers=official.headers
    )
    assert response.status_code == 200, response.text
    lot: dict[str, Any] = response.json()
    return lot


_keys = itertools.count(1)


async def bid(
    client: httpx.AsyncClient, lot_id: int, bidder: Person, amount_fen: int, key: str | None = None
) -> httpx.Response:
    return await client.post(
        f"/api/lots/{lot_id}/bids",
        json={"amount_fen": amount_fen},
        headers={**bidder.headers, "Idempotency-Key": key or f"bid-{next(_keys)}"},
    )
