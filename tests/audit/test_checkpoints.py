"""Checkpoints: signed at every lot close and whenever the head moves, deterministic, public."""

from __future__ import annotations

import asyncio
import base64

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from fastapi import FastAPI
from sqlalchemy import select

from app.audit import checkpoints
from app.audit.models import Checkpoint, EventRecord
from app.audit.notes import parse_note, signature_problem
from tests.audit.world import closed_lot_world


async def _stored(app: FastAPI) -> dict[int, Checkpoint]:
    async with app.state.sessionmaker() as session:
        rows = (await session.execute(select(Checkpoint))).scalars()
        return {row.size: row for row in rows}


async def _closing_seq(app: FastAPI, lot_id: int) -> int:
    async with app.state.sessionmaker() as session:
        query = select(EventRecord.seq).where(
            EventRecord.lot_id == lot_id, EventRecord.type == "lot_closed"
        )
        return (await session.execute(query)).scalar_one()


async def test_a_lot_close_is_checkpointed_at_its_closing_event(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    world = await closed_lot_world(client, app, bids=1)
    closing = await _closing_seq(app, world.lot_id)

    for _ in range(100):  # the checkpointer is woken by the close, not by a timer
        if closing in await _stored(app):
            break
        await asyncio.sleep(0.05)

    stored = (await _stored(app))[closing]
    note = parse_note(stored.note)
    assert (note.size, note.hash) == (closing, stored.hash)
    assert signature_problem(note, base64.b64decode(world.key)) is None


async def test_the_latest_checkpoint_is_public_and_verifies_with_the_well_known_key(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await closed_lot_world(client, app, bids=1)
    await checkpoints.sign_due_checkpoints(
        app.state.sessionmaker, checkpoints.checkpoint_signer(app.state.runtime.signer)
    )

    checkpoint = (await client.get("/api/audit/checkpoint")).json()
    key = (await client.get("/.well-known/auction-log-key")).json()

    async with app.state.sessionmaker() as session:
        size, head = await checkpoints.log_head(session)
    assert (checkpoint["size"], checkpoint["hash"]) == (size, head)
    assert checkpoint["at"].endswith("Z")
    body = checkpoint["note"].split("\n\n")[0] + "\n"
    public = Ed25519PublicKey.from_public_bytes(base64.b64decode(key["public_key"]))
    public.verify(base64.b64decode(checkpoint["signature"]), body.encode())
    assert key["verifier_key"].startswith(f"{checkpoint['origin']}+{key['key_id']}+")


async def test_signing_is_idempotent_and_races_are_harmless(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await closed_lot_world(client, app, bids=1)
    maker = app.state.sessionmaker
    signer = checkpoints.checkpoint_signer(app.state.runtime.signer)

    await asyncio.gather(*(checkpoints.sign_due_checkpoints(maker, signer) for _ in range(3)))
    before = {size: (r.note, r.signed_at) for size, r in (await _stored(app)).items()}

    assert await checkpoints.sign_due_checkpoints(maker, signer) == 0
    after = {size: (r.note, r.signed_at) for size, r in (await _stored(app)).items()}
    assert after == before


async def test_a_checkpoint_of_any_size_is_the_same_note_whenever_it_is_signed(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await closed_lot_world(client, app, bids=1)
    signer = checkpoints.checkpoint_signer(app.state.runtime.signer)
    async with app.state.sessionmaker() as session:
        first = await checkpoints.checkpoint_at(session, signer, 5)
        again = await checkpoints.checkpoint_at(session, signer, 5)
        missing = await checkpoints.checkpoint_at(session, signer, 10_000)

    assert first is not None
    assert again is not None
    assert first["note"] == again["note"]
    assert missing is None


async def test_an_empty_log_has_a_checkpoint_of_size_zero(client: httpx.AsyncClient) -> None:
    checkpoint = (await client.get("/api/audit/checkpoint")).json()
    assert (checkpoint["size"], checkpoint["hash"]) == (0, "0" * 64)


async def test_the_checkpointer_signs_the_moving_head_on_its_timer(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await closed_lot_world(client, app, bids=1)
    maker, runtime = app.state.sessionmaker, app.state.runtime
    task = asyncio.create_task(checkpoints.run_checkpointer(maker, runtime, interval_s=0.05))
    try:
        async with maker() as session:
            size, _ = await checkpoints.log_head(session)
        for _ in range(100):
            if size in await _stored(app):
                break
            await asyncio.sleep(0.05)
        assert size in await _stored(app)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
