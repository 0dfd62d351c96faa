"""The demo township: every lot state is there, and --live keeps the market lease moving."""

from __future__ import annotations

import asyncio
import contextlib

import httpx
from fastapi import FastAPI

from app.config import Settings
from app.demo import load_demo
from app.demo_live import run_simulated_bidders


async def test_the_demo_shows_a_lot_in_every_state(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    assert await load_demo(settings)
    assert not await load_demo(settings)  # a second run changes nothing
    public = (await client.get("/api/lots")).json()["items"]
    assert {lot["status"] for lot in public} == {"registration", "open", "paused", "closed"}
    outcomes = {lot["title"]: lot for lot in public if lot["status"] == "closed"}
    results = [
        (await client.get(f"/api/lots/{lot['id']}")).json()["result"] for lot in outcomes.values()
    ]
    assert sorted(r["outcome"] for r in results) == ["sold", "unsold"]


async def test_simulated_bidders_keep_the_live_lot_moving(
    settings: Settings, app: FastAPI, client: httpx.AsyncClient
) -> None:
    await load_demo(settings)
    live = next(lot for lot in (await client.get("/api/lots?status=open")).json()["items"])
    before = (await client.get(f"/api/lots/{live['id']}")).json()

    bidders = asyncio.create_task(run_simulated_bidders(app.state.sessionmaker, (0.01, 0.05)))
    try:
        async with asyncio.timeout(30):
            while (await client.get(f"/api/lots/{live['id']}")).json()["bid_count"] < (
                before["bid_count"] + 5
            ):
                await asyncio.sleep(0.1)
    finally:
        bidders.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await bidders

    ladder = (await client.get(f"/api/lots/{live['id']}/bids")).json()
    amounts = [entry["amount_fen"] for entry in ladder]
    assert amounts == sorted(amounts)
    assert len(set(amounts)) == len(amounts)
