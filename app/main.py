"""The application factory: settings, engine, routers, error handlers and background tasks."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse
from sqlalchemy import text

from app import schema
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker
from app.errors import install_error_handlers, problem


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        app.state.engine = engine
        app.state.sessionmaker = create_sessionmaker(engine)
        try:
            yield
        finally:
            await engine.dispose()

    app = FastAPI(
        title="Village collective asset auctions",
        version="0.1.0",
        summary="Public, multi-round bidding for the leases of village assets, with an audit log.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    install_error_handlers(app)

    @app.get("/healthz", tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (it does not look at the database)."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["operations"], response_model=None)
    async def readyz() -> dict[str, str] | JSONResponse:
        """The database answers and its schema is at the latest migration."""
        try:
            async with app.state.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
                at_head = await connection.run_sync(schema.is_at_head)
        except Exception as exc:  # noqa: BLE001 - any failure means "not ready"
            return problem(503, "database_unavailable", f"The database is not reachable: {exc}")
        if not at_head:
            return problem(
                503, "schema_outdated", "Run `auction migrate`: the schema is not at head."
            )
        return {"status": "ready"}

    return app
