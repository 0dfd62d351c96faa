"""The application factory: settings, engine, routers, error handlers and background tasks."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import schema
from app.accounts.router import router as accounts_router
from app.accounts.security import LoginThrottle, configure_password_hashing
from app.audit.checkpoints import run_checkpointer
from app.audit.router import router as audit_router
from app.bidding.router import router as bidding_router
from app.bidding.scheduler import run_scheduler
from app.config import Settings, get_settings
from app.db import create_engine, create_sessionmaker
from app.demo_live import run_simulated_bidders
from app.errors import install_error_handlers, problem
from app.limits import BodySizeLimit
from app.live.brokers import Broker, MemoryBroker, PostgresBroker, RedisBroker
from app.live.hub import LiveHub
from app.live.router import router as live_router
from app.lots.router import router as lots_router
from app.observability import RequestContext
from app.openapi import install_problem_openapi
from app.ratelimit import RateLimiter
from app.runtime import build_runtime
from app.web.router import router as web_router

logger = logging.getLogger(__name__)


def choose_broker(settings: Settings, hub: LiveHub) -> Broker:
    kind = settings.broker
    if kind == "auto":
        kind = "memory" if settings.is_sqlite else "postgres"
    if kind == "postgres":
        dsn = make_url(settings.effective_database_url).set(drivername="postgresql")
        return PostgresBroker(hub, dsn.render_as_string(hide_password=False))
    if kind == "redis":
        return RedisBroker(hub, settings.redis_url)
    return MemoryBroker()


async def _heartbeats(hub: LiveHub, interval_s: float) -> None:
    while True:
        await asyncio.sleep(interval_s)
        hub.heartbeat()


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_engine(settings)
        runtime = build_runtime(settings)
        maker = create_sessionmaker(engine, info={"runtime": runtime})
        hub = LiveHub(maker, settings.ws_queue_size, runtime.metrics.broker_lag.observe)
        runtime.metrics.count_watchers_with(lambda: hub.watcher_total)
        broker = choose_broker(settings, hub)
        runtime.listeners += [hub.local_commit, broker.announce]
        runtime.watcher_count = hub.count
        app.state.engine, app.state.sessionmaker, app.state.runtime = engine, maker, runtime
        app.state.hub = hub
        await broker.start()
        tasks = [asyncio.create_task(_heartbeats(hub, settings.ws_heartbeat_s), name="heartbeat")]
        if settings.scheduler_enabled:
            scheduler = run_scheduler(maker, runtime, settings.scheduler_max_sleep_s)
            tasks.append(asyncio.create_task(scheduler, name="scheduler"))
        if settings.demo_live:
            tasks.append(asyncio.create_task(run_simulated_bidders(maker), name="demo-bidders"))
        tasks.append(asyncio.create_task(run_checkpointer(maker, runtime), name="checkpointer"))
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await runtime.bid_queues.close()
            await broker.close()
            await hub.close()
            await engine.dispose()

    app = FastAPI(
        title="Village collective asset auctions",
        version="0.1.0",
        summary="Public, multi-round bidding for the leases of village assets, with an audit log.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.login_throttle = LoginThrottle(
        settings.login_attempts_per_minute, settings.login_attempts_per_minute_per_address
    )
    app.state.bid_limits = (
        RateLimiter(settings.bids_per_second_per_user, 2 * settings.bids_per_second_per_user),
        RateLimiter(settings.bids_per_second_per_address, 2 * settings.bids_per_second_per_address),
    )
    configure_password_hashing(settings.argon2_time_cost, settings.argon2_memory_kib)
    app.add_middleware(BodySizeLimit, max_bytes=settings.max_body_bytes)
    app.add_middleware(RequestContext)
    install_error_handlers(app)
    install_problem_openapi(app)
    # Routes are matched in order: the hottest (placing a bid) first.
    app.include_router(bidding_router)
    app.include_router(accounts_router)
    app.include_router(lots_router)
    app.include_router(live_router)
    app.include_router(audit_router)

    @app.get("/metrics", tags=["operations"], response_class=PlainTextResponse)
    async def metrics() -> PlainTextResponse:
        """Prometheus metrics of this process."""
        body = app.state.runtime.metrics.render()
        return PlainTextResponse(body, media_type=CONTENT_TYPE_LATEST)

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
        except Exception:  # noqa: BLE001 - any failure means "not ready"
            # Why goes to the log, not to whoever asks (it may name hosts and users).
            logger.warning("not ready: the database is not reachable", exc_info=True)
            return problem(503, "database_unavailable", "The database is not reachable.")
        if not at_head:
            detail = "Run `auction migrate`: the schema is not at the latest migration."
            return problem(503, "schema_outdated", detail)
        return {"status": "ready"}

    app.include_router(web_router)  # last: its catch-all 404 page must not hide other routes
    return app
