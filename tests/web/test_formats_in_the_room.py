"""The room's other formats: sequential turns (whose turn, keep, withdraw) and sealed bids
(hidden until opened, then ranked by amount)."""

from __future__ import annotations

import asyncio
from typing import Any

from playwright.async_api import Browser, Page, expect

from app.accounts.models import Role
from tests.factories import (
    PASSWORD,
    approve_bidder,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.web.conftest import DESKTOP, PHONE, Site, open_page, shoot, sign_in

BASE_LOT: dict[str, Any] = {
    "title": "沙西村农田承包经营权",
    "asset_kind": "farmland",
    "lease_term_months": 36,
    "location": "沙西村",
}


async def _confirm(page: Page) -> str:
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    words = await page.locator("#confirm-capital").inner_text()
    await page.click("#confirm-ok")
    return words


async def test_sequential_turns_and_sealed_bids_in_the_room(browser: Browser, site: Site) -> None:
    maker, api, base = site.maker, site.api, site.url
    official = await make_person(api, maker, Role.OFFICIAL, await make_village(maker, "沙西村"))
    wu = await make_person(api, maker, Role.BIDDER, name="wujianhua")
    huang = await make_person(api, maker, Role.BIDDER, name="huangzhiqiang")
    sequential = {
        **BASE_LOT,
        "format": "sequential",
        "rules": {
            "start_price_fen": 48_000_000,
            "step_fen": 600_000,
            "rounds": 1,
            "turn_s": 20,
            "first_pause_s": 1,
        },
    }
    sealed = {
        **BASE_LOT,
        "title": "那伏村工业用地租赁",
        "format": "sealed",
        "rules": {"start_price_fen": 85_000_000, "step_fen": 1_000_000, "round_s": 6},
    }
    turns = (await create_lot(api, official, sequential))["id"]
    tender = (await create_lot(api, official, sealed))["id"]
    for lot_id in (turns, tender):
        await lifecycle(api, lot_id, official, "publish")
    wu_number = await approve_bidder(api, turns, official, wu, initial_bid_fen=48_600_000)
    huang_number = await approve_bidder(api, turns, official, huang, initial_bid_fen=49_200_000)
    await approve_bidder(api, tender, official, wu)
    huang_tender = await approve_bidder(api, tender, official, huang)

    contexts = [
        await browser.new_context(viewport=DESKTOP),
        await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True),
    ]
    for context, person in zip(contexts, (wu, huang), strict=True):
        await sign_in(context, base, person.username, PASSWORD)
    wu_page, huang_page = [await open_page(c) for c in contexts]
    try:
        for watched in (wu_page, huang_page):
            await watched.page.goto(f"{base}/lots/{turns}")
            await expect(watched.page.locator("#connection")).to_have_attribute(
                "data-state", "live"
            )
        await lifecycle(api, turns, official, "open")
        # The lowest initial bid goes first: Wu.
        wu_turn, huang_turn = (
            wu_page.page.locator("#turn-line"),
            huang_page.page.locator("#turn-line"),
        )
        await expect(wu_turn).to_have_text("轮到您报价", timeout=10_000)
        await expect(huang_turn).to_have_text(f"现在是 {wu_number} 报价")
        await expect(huang_page.page.locator("#bid-controls")).to_be_hidden()
        await wu_page.page.click('#quick button[data-steps="1"]')
        assert await _confirm(wu_page.page) == "人民币肆拾玖万捌仟元整"
        await expect(huang_page.page.locator("#price")).to_have_text("¥498,000")
        await shoot(wu_page.page, "room-sequential-turn-desktop-zh")
        await wu_page.page.click("#withdraw")
        await expect(wu_page.page.locator("#bid-message")).to_have_text("已撤回本次加价。")
        await expect(huang_page.page.locator("#price")).to_have_text("¥492,000")
        await expect(huang_page.page.locator("#ladder tr.withdrawn")).to_contain_text("已撤回")
        await wu_page.page.click("#keep")
        await expect(huang_turn).to_have_text("轮到您报价")
        await shoot(huang_page.page, "room-sequential-turn-phone-zh")
        await huang_page.page.click("#keep")
        sold = f"已成交：竞买号 {huang_number}，成交价 ¥492,000。"
        await expect(wu_page.page.locator("#notice")).to_have_text(sold, timeout=10_000)

        for watched in (wu_page, huang_page):
            await watched.page.goto(f"{base}/lots/{tender}")
        await lifecycle(api, tender, official, "open")
        for watched, amount in ((wu_page, "910000"), (huang_page, "935000")):
            page = watched.page
            await expect(page.locator("#bid-controls")).to_be_visible()
            await expect(page.locator("#quick")).to_be_hidden()
            await page.fill("#amount", amount)
            await page.click("#amount-submit")
            await _confirm(page)
            await expect(page.locator("#bid-message")).to_contain_text("密封报价已提交")
            await expect(page.locator("#bid-controls")).to_be_hidden()
        await expect(wu_page.page.locator("#ladder-empty")).to_have_text("密封报价在开标后公布。")
        await expect(wu_page.page.locator("#price")).to_have_text("密封中")
        await shoot(huang_page.page, "room-sealed-phone-zh")
        await expect(wu_page.page.locator("#notice")).to_have_text(
            f"已成交：竞买号 {huang_tender}，成交价 ¥935,000。", timeout=15_000
        )
        rows = await wu_page.page.locator("#ladder tr").all_inner_texts()
        assert [row.split("\t")[1] for row in rows] == ["¥935,000", "¥910,000"]
        await expect(huang_page.page.locator("#standing-flag")).to_have_text("您已竞得")
        await shoot(wu_page.page, "room-sealed-opened-desktop-zh")
        for watched in (wu_page, huang_page):
            assert watched.errors == []
    finally:
        await asyncio.gather(*(context.close() for context in contexts))
