"""Browser fixtures: Debian's Chromium driven by Playwright against a real ``auction serve``.

The browser tests make their own SQLite database instead of using ``database_url``, so they
run once (in the SQLite pass), not again on PostgreSQL: what they test is the pages.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, async_playwright
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app import schema
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from tests.servers import Server

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 740}


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    """One Chromium for the session; each test opens its own contexts (fresh profiles)."""
    if not CHROMIUM.exists():
        message = "Debian's Chromium is missing: apt-get install -y chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)  # only this run's pictures, none stale
    SCREENSHOTS.mkdir(parents=True)
    # Playwright gives every launch a fresh temporary profile (it refuses --user-data-dir).
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@dataclass
class Site:
    """A running server, a sessionmaker on its database and an API client for set-up."""

    server: Server
    settings: Settings
    maker: async_sessionmaker[AsyncSession]
    api: httpx.AsyncClient

    @property
    def url(self) -> str:
        return self.server.url


def web_settings(tmp_path: Path) -> Settings:
    return Settings(
        env="test",
        secret_key="test-secret-key-not-for-production",
        database_url=f"sqlite+aiosqlite:///{(tmp_path / 'web.sqlite3').as_posix()}",
        data_dir=tmp_path,
        argon2_time_cost=1,
        argon2_memory_kib=64,
    )


@pytest.fixture
async def fresh_settings(tmp_path: Path) -> Settings:
    settings = web_settings(tmp_path)
    await asyncio.to_thread(schema.upgrade_to_head, settings.effective_database_url)
    return settings


@pytest.fixture
async def site(fresh_settings: Settings, tmp_path: Path) -> AsyncIterator[Site]:
    settings = fresh_settings
    server = Server(settings, tmp_path)  # its pages open sockets to it: no origin to allow
    await asyncio.to_thread(server.start)
    engine = create_engine(settings)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as api:
            yield Site(server, settings, create_sessionmaker(engine), api)
    finally:
        server.stop()
        await engine.dispose()


@dataclass
class Watched:
    """A page whose console errors and uncaught exceptions are collected for the test."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def take(self, message: ConsoleMessage) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text}")

    def unexpected(self, *expected: str) -> list[str]:
        """The errors but those the test caused on purpose (say, a refused bid's 422)."""
        return [e for e in self.errors if not any(part in e for part in expected)]


async def open_page(context: BrowserContext) -> Watched:
    page = await context.new_page()
    watched = Watched(page)
    page.on("console", watched.take)
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
    return watched


async def sign_in(context: BrowserContext, base: str, username: str, password: str) -> None:
    """A cookie session for the context, as the sign-in page would get."""
    response = await context.request.post(
        f"{base}/api/auth/token", form={"username": username, "password": password}
    )
    assert response.ok, await response.text()


async def shoot(page: Page, name: str) -> None:
    await page.screenshot(path=SCREENSHOTS / f"{name}.png", full_page=True)
