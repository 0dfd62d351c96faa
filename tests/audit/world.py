"""A closed lot made through the real API, its people, and ways to download and check its log."""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path

import httpx
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncConnection

from app.accounts.models import Role
from app.audit.verify import run
from tests.factories import (
    Person,
    approve_bidder,
    bid,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)

START = 30_000_000
STEP = 500_000


@dataclass
class World:
    lot_id: int
    official: Person
    other_official: Person
    auditor: Person
    bidders: list[tuple[Person, str]]
    key: str
    """The log's public key, as /.well-known/auction-log-key publishes it."""


async def closed_lot_world(
    client: httpx.AsyncClient, app: FastAPI, bids: int = 4, *, close: bool = True
) -> World:
    """A timed lot with two bidders who outbid each other ``bids`` times; then it closes."""
    maker = app.state.sessionmaker
    official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
    other = await make_person(client, maker, Role.OFFICIAL, await make_village(maker, "沙西村"))
    auditor = await make_person(client, maker, Role.AUDITOR)
    lot_id = (await create_lot(client, official))["id"]
    await lifecycle(client, lot_id, official, "publish")
    bidders = []
    for _ in range(2):
        person = await make_person(client, maker, Role.BIDDER)
        bidders.append((person, await approve_bidder(client, lot_id, official, person)))
    await lifecycle(client, lot_id, official, "open")
    for number in range(bids):
        response = await bid(client, lot_id, bidders[number % 2][0], START + STEP * number)
        assert response.status_code == 201, response.text
    if close:
        await lifecycle(client, lot_id, official, "close", reason="提前结束 test")
    key = (await client.get("/.well-known/auction-log-key")).json()["public_key"]
    return World(lot_id, official, other, auditor, bidders, key)


async def download(client: httpx.AsyncClient, path: str, person: Person, target: Path) -> Path:
    response = await client.get(path, headers=person.headers)
    assert response.status_code == 200, response.text
    target.write_bytes(response.content)
    return target


def verify(path: Path, *args: str) -> tuple[int, str]:
    """Run the verifier command on ``path``; returns the exit code and what it printed."""
    out, err = io.StringIO(), io.StringIO()
    code = run([str(path), *args], out=out, err=err)
    return code, out.getvalue() + err.getvalue()


async def bypass_append_only(connection: AsyncConnection) -> None:
    """What only the database's owner can do: switch off the triggers guarding the log."""
    if connection.dialect.name == "sqlite":
        for action in ("update", "delete"):
            await connection.exec_driver_sql(f"DROP TRIGGER IF EXISTS events_refuse_{action}")
    else:
        await connection.exec_driver_sql("SET LOCAL session_replication_role = replica")


async def tamper(app: FastAPI, *statements: str) -> None:
    """Run ``statements`` on the event table as a superuser bypassing the triggers."""
    async with app.state.engine.begin() as connection:
        await bypass_append_only(connection)
        for statement in statements:
            await connection.exec_driver_sql(statement)
