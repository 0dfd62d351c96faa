"""Every page, for every role, in both languages, on a desktop and on a phone: no untranslated
key, no console error, named controls and readable contrast; a screenshot of each to look at."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, expect
from sqlalchemy import select

from app.accounts.security import configure_password_hashing
from app.config import Settings
from app.demo import DEMO_PASSWORD, load_demo
from app.lots.models import Lot
from tests.web.a11y import accessibility_problems
from tests.web.conftest import DESKTOP, PHONE, Site, open_page, shoot, sign_in

# Who looks at which pages; {name} is the demo lot of that key (see app/demo_lots.py).
TOUR: dict[str, list[str]] = {
    "visitor": [
        "/",
        "/lots/{meige}",
        "/lots/{dulian}",
        "/lots/{nafu}",
        "/signin",
        "/register",
        "/no/such/page",
    ],
    "chenwei": ["/lots/{meige}", "/lots/{shaxi}", "/me"],
    "meige": [
        "/console",
        "/console/lots/new",
        "/console/lots/{meige}",
        "/console/lots/{draft}/edit",
    ],
    "shaxi": ["/console/lots/{shaxi}"],
    "nafu": ["/console/lots/{nafu}/result"],
    "dahuan": ["/console/lots/{dahuan}/result"],
    "auditor": ["/audit", "/audit/lots/{nafu}", "/console"],
}
ERROR_PAGES = {"/no/such/page": (404,), "/console": (403,)}
"""Pages some tour reaches on purpose that answer with an error status (the auditor's /console)."""
TITLES = {
    "meige": "梅阁市场租赁经营权",
    "shaxi": "沙西村农田承包经营权 600 亩",
    "nafu": "那伏村工业用地租赁",
    "dulian": "独联村鱼塘承包",
    "dahuan": "大环村临街商铺",
    "draft": "梅阁村农贸摊位 12 个",
}


@pytest.fixture
async def demo_settings(fresh_settings: Settings) -> Settings:
    configure_password_hashing(1, 64)  # the demo's people, cheaply hashed
    await load_demo(fresh_settings)
    return fresh_settings


@pytest.fixture
async def demo_site(demo_settings: Settings, site: Site) -> Site:
    return site


async def _lot_ids(site: Site) -> dict[str, int]:
    async with site.maker() as session:
        rows = (await session.execute(select(Lot.id, Lot.title))).all()
    by_title = {title: lot_id for lot_id, title in rows}
    return {key: by_title[title] for key, title in TITLES.items()}


def _slug(path: str) -> str:
    return path.strip("/").replace("/", "-").replace("{", "").replace("}", "") or "lots"


async def _settle(page: Page) -> None:
    """Wait for what the page's scripts fill in: the live socket, the audit tables."""
    if await page.locator("#connection").count():
        await expect(page.locator("#connection")).to_have_attribute("data-state", "live")
    for loaded_by_script in ("#checkpoint", "#events"):
        if await page.locator(loaded_by_script).count():
            await expect(page.locator(loaded_by_script)).to_have_attribute("data-loaded", "true")


async def _tour(browser: Browser, site: Site, who: str, language: str, phone: bool) -> list[str]:
    """One role's pages in one language on one screen; returns what is wrong with them."""
    viewport = PHONE if phone else DESKTOP
    context = await browser.new_context(viewport=viewport, is_mobile=phone, has_touch=phone)
    await context.add_cookies([{"name": "lang", "value": language, "url": site.url}])
    if who != "visitor":
        await sign_in(context, site.url, who, DEMO_PASSWORD)
    watched = await open_page(context)
    page, problems = watched.page, []
    ids = await _lot_ids(site)
    try:
        for template in TOUR[who]:
            path = template.format(**ids)
            await page.goto(site.url + path)
            await _settle(page)
            where = f"{who} {path} {language} {'phone' if phone else 'desktop'}"
            html = await page.content()
            if "⟦" in html:
                start = html.index("⟦")
                problems.append(f"{where}: untranslated {html[start : start + 40]}")
            if phone:
                width = await page.evaluate("document.documentElement.scrollWidth")
                if width > viewport["width"]:
                    problems.append(f"{where}: {width} px wide, scrolls sideways")
            else:
                problems += [f"{where}: {p}" for p in await accessibility_problems(page)]
            screen = "phone" if phone else "desktop"
            await shoot(page, f"tour-{who}-{_slug(template)}-{language}-{screen}")
            # An error page's own status is logged by the browser; anything else is a fault.
            expected = [f"status of {s}" for s in ERROR_PAGES.get(template, ())]
            problems += [f"{where}: {e}" for e in watched.unexpected(*expected)]
            watched.errors.clear()
    finally:
        await context.close()
    return problems


async def test_every_page_in_both_languages_on_desktop_and_phone_reads_well(
    browser: Browser, demo_site: Site
) -> None:
    # Both languages on a desktop; the phone (where the layout is tight) in Chinese.
    screens = (("zh", False), ("en", False), ("zh", True))
    tours = [_tour(browser, demo_site, who, lang, phone) for who in TOUR for lang, phone in screens]
    problems: list[str] = []
    for batch in range(0, len(tours), 2):
        for found in await asyncio.gather(*tours[batch : batch + 2]):
            problems += found
    assert problems == []


async def test_a_villager_registers_through_the_page_in_either_language(
    browser: Browser, site: Site
) -> None:
    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    watched = await open_page(context)
    page = watched.page
    try:
        await page.goto(f"{site.url}/register?next=/me")
        await expect(page.locator("h1")).to_have_text("注册竞买人账号")
        await page.click("a.lang")
        await expect(page.locator("h1")).to_have_text("Register as a bidder")
        assert page.url.endswith("/register?next=/me")
        await page.click("a.lang")
        await page.fill("#display_name", "何丽娟")
        await page.fill("#phone", "138-0000-00xx")
        await page.fill("#username", "helijuan")
        await page.fill("#password", "short")
        await page.click("#register-form button[type=submit]")
        await expect(page.locator("#phone-error")).to_have_text("格式不正确。")
        await expect(page.locator("#password-error")).to_have_text("至少 8 个字符。")
        await expect(page.locator("#phone")).to_be_focused()
        await page.fill("#phone", "138 0000 0006")
        await page.fill("#password", "demo-pass-2026")
        await page.click("#register-form button[type=submit]")
        await page.wait_for_url(f"{site.url}/me")
        await expect(page.locator(".account .who")).to_have_text("何丽娟")
        await shoot(page, "me-after-registering-phone-zh")
        assert watched.errors == []
    finally:
        await context.close()


def test_screenshots_are_not_committed() -> None:
    ignored = (Path(__file__).resolve().parents[2] / ".gitignore").read_text()
    assert "/test-artifacts/" in ignored.splitlines()
