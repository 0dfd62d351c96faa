"""Auditors search the log by lot, bidder number, actor, type and time, page by page."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app import auction
from tests.audit.world import World, closed_lot_world


@pytest.fixture
async def world(client: httpx.AsyncClient, app: FastAPI) -> World:
    return await closed_lot_world(client, app, bids=4)


async def search(client: httpx.AsyncClient, world: World, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/audit/events", params=params, headers=world.auditor.headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_events_of_a_bidder_are_their_registration_qualification_bids_and_win(
    client: httpx.AsyncClient, world: World
) -> None:
    (chen, number), _ = world.bidders

    found = await search(client, world, lot_id=world.lot_id, bidder=number)

    assert [e["type"] for e in found] == [
        "registration_submitted",
        "bidder_qualified",
        "bid_placed",
        "bid_placed",
    ]
    assert all(chen.username in e["bidder_name"] for e in found)
    (_, winner) = world.bidders
    closing = await search(client, world, lot_id=world.lot_id, bidder=winner[1], type="lot_closed")
    assert [e["data"]["result"]["winner"] for e in closing] == [winner[1]]


async def test_events_by_actor_type_and_time(client: httpx.AsyncClient, world: World) -> None:
    everything = await search(client, world, lot_id=world.lot_id)
    by_username = await search(client, world, actor=world.official.username)
    by_id = await search(client, world, actor=f"user:{world.official.id}")
    bids = await search(client, world, type=["bid_placed", "lot_closed"])
    third = auction.parse_time(everything[2]["at"])
    late = await search(client, world, after=everything[2]["at"])
    early = await search(client, world, before=(third + timedelta(microseconds=1)).isoformat())

    assert by_username == by_id
    assert {e["actor"] for e in by_id} == {f"user:{world.official.id}"}
    assert [e["type"] for e in bids] == ["bid_placed"] * 4 + ["lot_closed"]
    assert all(auction.parse_time(e["at"]) > third for e in late)
    assert [e["seq"] for e in early][-1] >= everything[2]["seq"]
    assert all(auction.parse_time(e["at"]) <= third for e in early)
    assert await search(client, world, actor="nobody-by-that-name") == []


async def test_results_come_page_by_page(client: httpx.AsyncClient, world: World) -> None:
    everything = await search(client, world, lot_id=world.lot_id)
    seen: list[int] = []
    cursor = 0
    while cursor is not None:
        response = await client.get(
            "/api/audit/events",
            params={"lot_id": world.lot_id, "limit": 5, "cursor": cursor},
            headers=world.auditor.headers,
        )
        page = response.json()
        seen += [e["seq"] for e in page["items"]]
        cursor = page["next_cursor"]
    assert seen == [e["seq"] for e in everything]


async def test_a_bidder_number_needs_its_lot(client: httpx.AsyncClient, world: World) -> None:
    response = await client.get(
        "/api/audit/events", params={"bidder": "A01"}, headers=world.auditor.headers
    )
    assert (response.status_code, response.json()["code"]) == (422, "bidder_needs_lot")
