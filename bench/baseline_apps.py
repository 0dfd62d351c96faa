"""The two comparison apps of the benchmarks, served by uvicorn exactly as ``auction serve``.

``bare``: the framework's limit for bids. One FastAPI endpoint at the bid's path that reads the
same headers, validates the same JSON body with pydantic, does one write (into a dict in memory:
no database, so only the web layer is measured) and answers 201 with a small JSON body.

``naive``: the broadcast pattern of FastAPI's WebSocket documentation ("Handling disconnections
and multiple clients"): a list of sockets and a ``send_text`` loop per message, awaited inside
the request that causes it. A bid ``POST`` to it broadcasts an event frame shaped like the real
app's (with the server's ``at``), so the same watcher client measures both.

    python bench/baseline_apps.py {bare,naive} --port PORT
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import FastAPI, Header, WebSocket, WebSocketDisconnect
from pydantic import BaseModel


class BidBody(BaseModel):
    amount_fen: int


def bare_app() -> FastAPI:
    app = FastAPI()
    written: dict[str, int] = {}

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/lots/{lot_id}/bids", status_code=201)
    async def bid(
        lot_id: int,
        body: BidBody,
        authorization: Annotated[str | None, Header()] = None,
        idempotency_key: Annotated[str | None, Header()] = None,
    ) -> dict[str, Any]:
        written[idempotency_key or ""] = body.amount_fen  # the one write
        return {"lot_id": lot_id, "amount_fen": body.amount_fen, "seq": len(written)}

    return app


def _time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class ConnectionManager:
    """As in FastAPI's documentation."""

    def __init__(self) -> None:
        self.active_connections: list[WebSocket] = []

    async def connect(self, websocket: WebSocket) -> None:
        await websocket.accept()
        self.active_connections.append(websocket)

    def disconnect(self, websocket: WebSocket) -> None:
        self.active_connections.remove(websocket)

    async def broadcast(self, message: str) -> None:
        for connection in self.active_connections:
            await connection.send_text(message)


def naive_app() -> FastAPI:
    app = FastAPI()
    manager = ConnectionManager()
    seq = 0

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.websocket("/ws/lots/{lot_id}")
    async def watch(websocket: WebSocket, lot_id: int) -> None:
        await manager.connect(websocket)
        # Not in the documentation's example: tells the client it is in, like the app's snapshot.
        snapshot = {"type": "snapshot", "lot_id": lot_id, "seq": seq}
        await websocket.send_text(json.dumps(snapshot, separators=(",", ":")))
        try:
            while True:
                await websocket.receive_text()
        except WebSocketDisconnect:
            manager.disconnect(websocket)

    @app.post("/api/lots/{lot_id}/bids", status_code=201)
    async def bid(lot_id: int, body: BidBody) -> dict[str, Any]:
        nonlocal seq
        seq += 1
        now = datetime.now(UTC)
        event = {
            "type": "bid_placed",
            "at": _time(now),
            "amount_fen": body.amount_fen,
            "bidder": "A07",
            "deadline": _time(now + timedelta(hours=1)),
            "round": seq,
        }
        frame = json.dumps({"type": "event", "seq": seq, "event": event}, separators=(",", ":"))
        await manager.broadcast(frame)
        return {"lot_id": lot_id, "amount_fen": body.amount_fen, "seq": seq}

    return app


def serve(kind: str, port: int) -> None:
    """uvicorn with the settings of ``app.cli._serve`` and its listening socket."""
    import uvicorn

    from app.cli import listening_socket
    from app.config import Settings

    settings = Settings.model_construct(host="127.0.0.1", port=port)
    config = uvicorn.Config(
        bare_app() if kind == "bare" else naive_app(),
        log_level="warning",
        ws_per_message_deflate=False,
        ws_ping_interval=settings.ws_ping_interval_s,
        ws_ping_timeout=settings.ws_ping_timeout_s,
        timeout_graceful_shutdown=settings.graceful_shutdown_s,
    )
    uvicorn.Server(config).run(sockets=[listening_socket(settings)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=["bare", "naive"])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    serve(args.kind, args.port)


if __name__ == "__main__":
    main()
