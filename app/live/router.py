"""``WS /ws/lots/{lot_id}``: a snapshot (or the events after ``?after=``), then every event."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, WebSocket, WebSocketDisconnect

from app.accounts.models import Role, User
from app.accounts.security import read_token
from app.audit import service as audit_service
from app.deps import SESSION_COOKIE, LotId, active_user
from app.errors import AppError
from app.live import frames
from app.live.hub import CLOSE_LAGGING, HEARTBEAT, LAGGING, DirectLine, LiveHub, Watcher
from app.live.personal import TURN_WARNING_S, BidderView
from app.lots import registrations as registrations_service
from app.lots import service as lots_service
from app.observability import RAW_SEND

router = APIRouter()

CLOSE_FORBIDDEN_ORIGIN = 4003
CLOSE_NOT_FOUND = 4004


def _from_this_site(websocket: WebSocket) -> bool:
    """Whether the socket comes from one of this site's pages: its ``Origin`` is the address
    it was opened at (``Host``, and https behind a TLS proxy) or one of ``allowed_origins``.
    Clients that are not browsers send no ``Origin``."""
    origin = websocket.headers.get("origin")
    if origin is None or origin in websocket.app.state.settings.allowed_origins:
        return True
    host = websocket.headers.get("host")
    scheme = "https" if websocket.url.scheme == "wss" else "http"
    return host is not None and origin == f"{scheme}://{host}"


def _token(websocket: WebSocket) -> str | None:
    header = websocket.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:]
    return websocket.cookies.get(SESSION_COOKIE)


async def _viewer(websocket: WebSocket) -> User | None:
    token = _token(websocket)
    claims = read_token(websocket.app.state.settings.secret_key, token) if token else None
    if claims is None:
        return None
    return await active_user(
        websocket.app.state.runtime, websocket.app.state.sessionmaker, claims.user_id
    )


@router.websocket("/ws/lots/{lot_id}")
async def watch_lot(
    websocket: WebSocket,
    lot_id: LotId,
    after: Annotated[int | None, Query(ge=0, le=2**53)] = None,
) -> None:
    if not _from_this_site(websocket):
        # A page of another site must not ride on the viewer's cookie (refused before accept).
        await websocket.close(code=CLOSE_FORBIDDEN_ORIGIN, reason="origin not allowed")
        return
    hub: LiveHub = websocket.app.state.hub
    async with websocket.app.state.sessionmaker() as session:
        viewer = await _viewer(websocket)
        try:
            await lots_service.get_visible_lot(session, viewer, lot_id)
        except AppError:
            await websocket.close(code=CLOSE_NOT_FOUND, reason="no such lot")
            return
        number = None
        if viewer is not None and viewer.role == Role.BIDDER:
            number = await registrations_service.approved_number(session, viewer, lot_id)
    watcher = await hub.join(lot_id, number)
    try:
        await websocket.accept()
        watcher.sent = await _catch_up(websocket, lot_id, after, viewer)
        forwarder = asyncio.create_task(_forward(websocket, watcher))
        receiver = asyncio.create_task(_receive(websocket))
        # A send stuck on a full connection must not keep a dropped watcher: cancel it.
        watcher.on_lagging = functools.partial(forwarder.cancel, "lagging")
        try:
            await asyncio.wait({forwarder, receiver}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            forwarder.cancel()
            receiver.cancel()
        if watcher.lagging:
            await _close_lagging(websocket)
    except WebSocketDisconnect:
        pass
    finally:
        hub.leave(watcher)


async def _catch_up(
    websocket: WebSocket, lot_id: int, after: int | None, viewer: User | None
) -> int:
    """Send the snapshot, or exactly the events after ``after``; returns the last seq sent.

    Reads in a short session of its own: no database session lives as long as the socket.
    """
    async with websocket.app.state.sessionmaker() as session:
        lot = await lots_service.get_visible_lot(session, viewer, lot_id)
        if after is None or after > lot.seq or after < 0:
            village = await lots_service.village_name(session, lot.village_id)
            snapshot = lots_service.snapshot(lot, village, session)
            await websocket.send_text(frames.dumps({"type": "snapshot", **snapshot}))
            return lot.seq
        records = await audit_service.lot_events(session, lot_id, after_lot_seq=after)
    for record in records:
        await websocket.send_text(frames.event_frame(lot.format, record))
    return records[-1].lot_seq or after if records else after


async def _close_lagging(websocket: WebSocket) -> None:
    """Say why (if the connection still takes a frame); the server then closes it regardless,
    and a reader stalled at the TCP level sees the connection end once it reads again."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(1.0):
            await websocket.close(code=CLOSE_LAGGING, reason="too slow; resume with ?after=")


async def _receive(websocket: WebSocket) -> None:
    """Answer the client's pings with the server time; end when the client goes away."""
    with contextlib.suppress(WebSocketDisconnect):
        while True:
            message = await websocket.receive_json()
            if isinstance(message, dict) and message.get("type") == "ping":
                now = datetime.now(UTC)
                await websocket.send_text(frames.dumps({"type": "pong", "server_time": now}))


async def _forward(websocket: WebSocket, watcher: Watcher) -> None:
    """Send what the hub queued for this watcher, skipping what was sent already.

    An anonymous watcher with nothing queued is idle: the hub writes to it directly. A bidder's
    socket always goes through here, where each event is also turned into personal messages.
    """
    view = BidderView(watcher.bidder) if watcher.bidder else None
    if view is None:
        watcher.direct = _direct_line(websocket)
    try:
        while True:
            watcher.busy = False
            batch = await watcher.queue.get()
            watcher.busy = True
            if batch is LAGGING:
                return
            for delivery in batch:
                if delivery.seq == HEARTBEAT:
                    await websocket.send_text(delivery.text)
                    continue
                if delivery.seq <= watcher.sent:
                    continue  # already in the snapshot, the catch-up or sent by the hub
                await websocket.send_text(delivery.text)
                watcher.sent = delivery.seq
                if view is not None:
                    await _tell_bidder(websocket, view, delivery.event)
    finally:
        watcher.busy = True
        if view is not None and view.reminder is not None:
            view.reminder.cancel()


def _direct_line(websocket: WebSocket) -> DirectLine | None:
    """A line from the hub straight to this socket's transport, if the server allows one.

    With uvicorn's WebSocket protocol, the hub can see whether the transport has room (its
    ``writable`` event) and write a prepared frame to it, as the protocol's own send would;
    with another server the hub keeps queuing for the watcher.
    """
    protocol: Any = getattr(websocket.scope.get(RAW_SEND), "__self__", None)
    writable = getattr(protocol, "writable", None)
    transport: Any = getattr(protocol, "transport", None)
    if not isinstance(writable, asyncio.Event) or not hasattr(protocol, "close_sent"):
        return None
    if not callable(getattr(transport, "write", None)):
        return None

    def write(frame: bytes) -> bool:
        if protocol.close_sent or transport.is_closing():
            return False
        transport.write(frame)
        return True

    return DirectLine(write, writable.is_set)


async def _tell_bidder(websocket: WebSocket, view: BidderView, event: dict[str, Any]) -> None:
    for message in view.messages(event):
        await websocket.send_text(frames.dumps(message))
        if message["kind"] == "your_turn" and message.get("deadline"):
            view.reminder = _remind(websocket, message["deadline"], view.reminder)


def _remind(
    websocket: WebSocket, deadline_text: str, previous: asyncio.TimerHandle | None
) -> asyncio.TimerHandle | None:
    """Tell the bidder their turn ends in 30 s, on the server's clock."""
    if previous is not None:
        previous.cancel()
    deadline = datetime.fromisoformat(deadline_text.replace("Z", "+00:00"))
    warn_at = deadline - timedelta(seconds=TURN_WARNING_S)
    delay = (warn_at - datetime.now(UTC)).total_seconds()
    if delay <= 0:
        return None
    message = {"type": "personal", "kind": "turn_ending", "deadline": deadline_text}

    def send() -> None:
        asyncio.ensure_future(websocket.send_text(frames.dumps(message)))

    return asyncio.get_running_loop().call_later(delay, send)
