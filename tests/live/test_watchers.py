"""What a watcher may and may not get: slow readers are dropped without slowing the others,
other sites' pages are refused, and personal messages reach only their bidder."""

from __future__ import annotations

import asyncio
import json
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from tests.factories import bid
from tests.live.clients import Final, RecordingWatcher
from tests.live.test_fanout import START, STEP, open_lot
from tests.servers import Server


def ws_url(server: Server, lot_id: int) -> str:
    return server.url.replace("http://", "ws://") + f"/ws/lots/{lot_id}"


def small_window_socket(server: Server) -> socket.socket:
    """A TCP socket that can buffer only a few KiB: a phone that stopped reading."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    sock.connect(("127.0.0.1", server.port))
    return sock


async def drain(socket: websockets.ClientConnection) -> None:
    while True:
        await socket.recv()


async def test_a_watcher_that_stops_reading_is_dropped_and_the_others_get_everything(
    settings: Settings, tmp_path: Path, maker: async_sessionmaker[AsyncSession]
) -> None:
    # Heartbeats every 5 ms fill a stalled connection's small buffers within seconds.
    server = Server(
        settings,
        tmp_path,
        AUCTION_WS_QUEUE_SIZE="64",
        AUCTION_WS_PING_INTERVAL_S="600",
        AUCTION_WS_HEARTBEAT_S="0.005",
        AUCTION_SOCKET_SEND_BUFFER_BYTES="16384",
    ).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            lot_id, bidders = await open_lot(client, maker)
            stalled = await websockets.connect(
                ws_url(server, lot_id), sock=small_window_socket(server), max_queue=1
            )
            final = Final()
            reader = RecordingWatcher(server.url, lot_id)
            reading = asyncio.create_task(reader.watch(final))
            for n in range(40):
                response = await bid(client, lot_id, bidders[n % 2][0], START + n * STEP)
                assert response.status_code == 201
                await asyncio.sleep(0.1)
            snapshot = (await client.get(f"/api/lots/{lot_id}")).json()
            final.seq = snapshot["seq"]
            await asyncio.wait_for(reading, timeout=60)
            # The reader has hung up; the stalled one fills its buffers, then is dropped.
            async with asyncio.timeout(60):
                while (await client.get(f"/api/lots/{lot_id}")).json()["watchers"] > 0:
                    await asyncio.sleep(0.2)

            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(drain(stalled), timeout=60)
    finally:
        server.stop()

    # It sees the connection end once it reads again: with CLOSE_LAGGING (4000) if the close
    # frame still fitted in the connection, else as an abnormal closure (1006).
    assert closed.value.rcvd is None or closed.value.rcvd.code == 4000
    assert reader.connections == 1  # the reader was never dropped
    assert reader.seqs == list(range((reader.snapshot_seq or 0) + 1, final.seq + 1))


async def test_a_socket_from_another_sites_page_is_refused(
    settings: Settings, tmp_path: Path, maker: async_sessionmaker[AsyncSession]
) -> None:
    server = Server(settings, tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            lot_id, _ = await open_lot(client, maker)
        url = ws_url(server, lot_id)
        with pytest.raises(websockets.InvalidStatus) as refused:
            async with websockets.connect(url, origin="https://evil.example"):
                pass
        assert refused.value.response.status_code == 403
        # The site's own pages: the Origin is the address the page (and socket) came from.
        async with websockets.connect(url, origin=server.url) as own:
            assert json.loads(await own.recv())["type"] == "snapshot"
        # Another name for the same server is another site, unless the settings allow it.
        with pytest.raises(websockets.InvalidStatus):
            async with websockets.connect(url, origin=f"http://auction.example:{server.port}"):
                pass
    finally:
        server.stop()
    allowing = Server(
        settings, tmp_path, AUCTION_ALLOWED_ORIGINS='["https://portal.example"]'
    ).start()
    try:
        url = ws_url(allowing, lot_id)
        async with websockets.connect(url, origin="https://portal.example") as allowed:
            assert json.loads(await allowed.recv())["type"] == "snapshot"
    finally:
        allowing.stop()


async def personal_messages(socket: Any, until_seq: int) -> list[dict[str, Any]]:
    """Personal messages up to the event ``until_seq`` and those that follow it at once."""
    personal, seen_last = [], False
    while True:
        try:
            raw = await asyncio.wait_for(socket.recv(), timeout=1.0 if seen_last else 20)
        except TimeoutError:
            return personal
        message = json.loads(raw)
        if message["type"] == "personal":
            personal.append(message)
        seen_last = seen_last or (message["type"] == "event" and message["seq"] == until_seq)


async def test_personal_messages_reach_only_their_bidder(
    settings: Settings, tmp_path: Path, maker: async_sessionmaker[AsyncSession]
) -> None:
    server = Server(settings, tmp_path).start()
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as client:
            lot_id, [(chen, chen_no), (li, li_no)] = await open_lot(client, maker)
            url = ws_url(server, lot_id)
            async with (
                websockets.connect(url, additional_headers=chen.headers) as chen_socket,
                websockets.connect(url, additional_headers=li.headers) as li_socket,
                websockets.connect(url) as public_socket,
            ):
                for s in (chen_socket, li_socket, public_socket):
                    assert json.loads(await s.recv())["type"] == "snapshot"
                await bid(client, lot_id, chen, START)
                last = (await bid(client, lot_id, li, START + STEP)).json()["seq"]
                chen_got = await personal_messages(chen_socket, last)
                li_got = await personal_messages(li_socket, last)
                public_got = await personal_messages(public_socket, last)
    finally:
        server.stop()

    assert [(m["kind"], m["bidder_number"]) for m in chen_got] == [
        ("you_lead", chen_no),
        ("outbid", chen_no),
    ]
    assert [(m["kind"], m["bidder_number"]) for m in li_got] == [("you_lead", li_no)]
    assert public_got == []
