"""The bidding room in a real browser: an official runs a timed lot that two bidders fight over,
the auditor verifies its history, and a phone's room survives a server restart."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from pathlib import Path

from playwright.async_api import Browser, BrowserContext, Page, expect

from app.accounts.models import Role
from app.audit.verify import verify_file
from tests.factories import (
    PASSWORD,
    TIMED_LOT,
    approve_bidder,
    bid,
    create_lot,
    lifecycle,
    make_person,
    make_village,
)
from tests.web.conftest import DESKTOP, PHONE, Site, Watched, open_page, shoot, sign_in

COUNTDOWN_S = 8


async def _sign_in_through_the_page(page: Page, base: str, username: str, then: str) -> None:
    await page.goto(f"{base}/signin?next={then}")
    await page.fill("#username", username)
    await page.fill("#password", PASSWORD)
    await page.click("#signin-form button[type=submit]")
    await page.wait_for_url(f"{base}{then}")


async def _accept_dialogs(page: Page) -> None:
    page.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))


async def _create_timed_lot(page: Page, base: str) -> int:
    """Fill the lot editor as an official would, with a short countdown; returns the lot id."""
    await page.click('a[href="/console/lots/new"]')
    await page.fill("#title", "梅阁村农贸市场摊位租赁")
    await page.select_option("#asset_kind", "market")
    await page.fill("#location", "梅阁村")
    await page.fill("#area_m2", "1200")
    await page.fill("#lease_term_months", "24")
    await page.check("#format-timed")
    await page.fill("#rules-price-start_price_fen", "300000")
    await page.fill("#rules-price-step_fen", "5000")
    await page.fill("#rules-timed-cap_price_fen", "200000")
    await page.click("#lot-form button[type=submit]")
    # Checked in the page, next to the field, before anything is sent.
    await expect(page.locator("#rules-timed-cap_price_fen-error")).to_have_text(
        "最高限价须高于起拍价。"
    )
    await shoot(page, "console-new-lot-desktop-zh")
    await page.fill("#rules-timed-cap_price_fen", "")
    await page.fill("#rules-timed-countdown_s", str(COUNTDOWN_S))
    await expect(page.locator('[data-hint-for="rules-price-start_price_fen"]')).to_have_text(
        "= 叁拾万元整"
    )
    await page.click("#lot-form button[type=submit]")
    await page.wait_for_url(re.compile(r".*/console/lots/\d+$"))
    return int(page.url.rsplit("/", 1)[1])


async def _bid(page: Page, *, steps: int | None = None, amount: str | None = None) -> str:
    """Bid by a quick-raise button or a typed amount; returns the 大写 the dialog showed."""
    if steps is not None:
        await page.click(f'#quick button[data-steps="{steps}"]')
    else:
        await page.fill("#amount", amount or "")
        await page.click("#amount-submit")
    await expect(page.locator("#confirm-dialog")).to_be_visible()
    words = await page.locator("#confirm-capital").inner_text()
    await page.click("#confirm-ok")
    return words


async def _ladder(page: Page) -> list[str]:
    return await page.locator("#ladder tr").all_inner_texts()


async def test_an_official_runs_a_timed_lot_that_two_bidders_fight_over_and_it_verifies(
    browser: Browser, site: Site, tmp_path: Path
) -> None:
    maker, base = site.maker, site.url
    village = await make_village(maker)
    await make_person(site.api, maker, Role.OFFICIAL, village, name="meige")
    await make_person(site.api, maker, Role.BIDDER, name="chenwei")
    await make_person(site.api, maker, Role.BIDDER, name="lixiuying")
    await make_person(site.api, maker, Role.AUDITOR, name="auditor")
    contexts: list[BrowserContext] = [await browser.new_context(viewport=DESKTOP) for _ in range(4)]
    official, chen, li, auditor = [await open_page(c) for c in contexts]
    try:
        await _accept_dialogs(official.page)
        await _sign_in_through_the_page(official.page, base, "meige", "/console")
        lot_id = await _create_timed_lot(official.page, base)
        await official.page.click('form[data-action$="/publish"] button')
        await expect(official.page.locator(".badge.status-registration")).to_be_visible()

        for bidder, name in ((chen, "chenwei"), (li, "lixiuying")):
            await _sign_in_through_the_page(bidder.page, base, name, f"/lots/{lot_id}")
            await bidder.page.click("#register-form button[type=submit]")
            await expect(bidder.page.locator(".notice-box")).to_contain_text("等待村干部审核")

        await official.page.reload()
        await shoot(official.page, "console-queue-desktop-zh")
        for remaining in (1, 0):
            form = official.page.locator(".approve-form").first
            await form.locator("input[name=deposit_fen]").fill("50000")
            await form.locator("button[type=submit]").click()
            await expect(official.page.locator(".approve-form")).to_have_count(remaining)
        await expect(official.page.locator(".queue-item.status-approved")).to_have_count(2)
        for bidder in (chen, li):
            await bidder.page.reload()
            await expect(bidder.page.locator("#my-number")).to_have_text(re.compile(r"[A-Z]\d\d"))
            await expect(bidder.page.locator("#connection")).to_have_attribute("data-state", "live")
        li_number = await li.page.locator("#my-number").inner_text()

        await official.page.click('form[data-action$="/open"] button')
        await expect(chen.page.locator("#bid-controls")).to_be_visible()
        assert await _bid(chen.page, steps=1) == "人民币叁拾万元整"
        await expect(chen.page.locator("#bid-message")).to_have_text("出价成功：¥300,000")

        await expect(li.page.locator("#price")).to_have_text("¥300,000")
        assert await _bid(li.page, amount="307000") == "人民币叁拾万柒仟元整"
        await expect(li.page.locator("#bid-message")).to_have_text(
            "加价须为加价幅度的整数倍。 当前价 ¥300,000。 最低可出价 ¥305,000"
        )
        assert await _bid(li.page, amount="310000") == "人民币叁拾壹万元整"
        await expect(li.page.locator("#standing-flag")).to_have_text("您目前领先")
        await expect(li.page.locator('#quick button[data-steps="1"]')).to_be_disabled()

        await expect(chen.page.locator("#standing-flag")).to_have_text("您未领先")
        await _bid(chen.page, steps=1)
        await expect(li.page.locator("#price")).to_have_text("¥315,000")
        # By keyboard alone: the confirmation opens with its OK button focused.
        await li.page.focus('#quick button[data-steps="2"]')
        await li.page.keyboard.press("Enter")
        await expect(li.page.locator("#confirm-capital")).to_have_text("人民币叁拾贰万伍仟元整")
        await expect(li.page.locator("#confirm-ok")).to_be_focused()
        await li.page.keyboard.press("Enter")
        await expect(chen.page.locator("#price")).to_have_text("¥325,000")
        await shoot(chen.page, "room-bidding-desktop-zh")

        sold = f"已成交：竞买号 {li_number}，成交价 ¥325,000。"
        for bidder in (chen, li):
            await expect(bidder.page.locator("#notice")).to_have_text(
                sold, timeout=(COUNTDOWN_S + 10) * 1000
            )
        ladders = [await _ladder(chen.page), await _ladder(li.page)]
        assert ladders[0] == ladders[1]
        assert len(ladders[0]) == 4
        public = (await site.api.get(f"/api/lots/{lot_id}/bids")).json()
        assert [row["amount_fen"] for row in public] == [
            30_000_000,
            31_000_000,
            31_500_000,
            32_500_000,
        ]
        await shoot(li.page, "room-closed-desktop-zh")

        await official.page.goto(f"{base}/console/lots/{lot_id}/result")
        await expect(official.page.locator(".capital")).to_contain_text("叁拾贰万伍仟元整")
        await shoot(official.page, "confirmation-desktop-zh")

        await sign_in(contexts[3], base, "auditor", PASSWORD)
        await auditor.page.goto(f"{base}/audit")
        async with auditor.page.expect_download() as download_info:
            await auditor.page.click(f'a[href="/api/lots/{lot_id}/history.csv"]')
        download = await download_info.value
        csv_path = tmp_path / "history.csv"
        await download.save_as(csv_path)
        key = (await site.api.get("/.well-known/auction-log-key")).json()["public_key"]
        report = verify_file(csv_path, public_key=key)
        assert report.lots_closed == 1
        assert report.events >= 12
        await auditor.page.click(f'button.verify[data-lot="{lot_id}"]')
        await expect(auditor.page.locator(f"#verdict-{lot_id}")).to_contain_text("核验通过")
        await shoot(auditor.page, "audit-desk-verified-desktop-zh")

        for watched in (official, chen, li, auditor):
            assert watched.unexpected("status of 422") == []
    finally:
        for context in contexts:
            await context.close()


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def _remaining_ms(page: Page) -> int:
    return int(await page.locator("#countdown").get_attribute("data-remaining-ms") or "0")


async def test_the_room_on_a_phone_survives_a_server_restart_and_catches_up(
    browser: Browser, site: Site
) -> None:
    maker, base, api = site.maker, site.url, site.api
    official = await make_person(api, maker, Role.OFFICIAL, await make_village(maker))
    rules = {**TIMED_LOT["rules"], "countdown_s": 120}
    lot_id = (await create_lot(api, official, {**TIMED_LOT, "rules": rules}))["id"]
    await lifecycle(api, lot_id, official, "publish")
    chen = await make_person(api, maker, Role.BIDDER, name="chenwei")
    li = await make_person(api, maker, Role.BIDDER, name="lixiuying")
    huang = await make_person(api, maker, Role.BIDDER, name="huangzhiqiang")
    await approve_bidder(api, lot_id, official, chen)
    await approve_bidder(api, lot_id, official, li)
    huang_number = await approve_bidder(api, lot_id, official, huang)
    await lifecycle(api, lot_id, official, "open")

    context = await browser.new_context(viewport=PHONE, is_mobile=True, has_touch=True)
    phone: Watched = await open_page(context)
    page = phone.page
    try:
        await sign_in(context, base, "chenwei", PASSWORD)
        await page.goto(f"{base}/lots/{lot_id}")
        connection = page.locator("#connection")
        await expect(connection).to_have_attribute("data-state", "live")
        await expect(page.locator("#watchers")).to_have_text("1")
        await _bid(page, steps=1)
        await expect(page.locator("#bid-message")).to_have_text("出价成功：¥300,000")
        assert (await bid(api, lot_id, li, 30_500_000)).status_code == 201
        await expect(page.locator("#price")).to_have_text("¥305,000")
        await expect(page.locator("#notice")).to_contain_text("您已被超越")
        await shoot(page, "room-bidding-phone-zh")
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], "the room scrolls sideways on a phone"

        site.server.kill()
        await expect(connection).to_have_attribute("data-state", "reconnecting")
        await expect(page.locator("#connection-text")).to_contain_text("正在重连")
        await shoot(page, "room-reconnecting-phone-zh")
        await asyncio.to_thread(site.server.start)
        # Bid before the room is back: it must catch up with ?after=, not miss the event.
        assert (await bid(api, lot_id, huang, 31_500_000)).status_code == 201
        await expect(connection).to_have_attribute("data-state", "live", timeout=20_000)
        await expect(page.locator("#price")).to_have_text("¥315,000")
        assert await _ladder(page) == [
            f"{row['bidder_number']}\t{row['amount']}\t{row['at']}"
            for row in await _public_ladder_texts(page, lot_id)
        ]
        assert len(await _ladder(page)) == 3

        snapshot = (await api.get(f"/api/lots/{lot_id}")).json()
        expected = (_at(snapshot["deadline"]) - _at(snapshot["server_time"])).total_seconds()
        shown = await _remaining_ms(page) / 1000
        assert abs(shown - expected) < 1.5, (shown, expected)
        assert await page.locator("#leader").inner_text() == huang_number
        await shoot(page, "room-reconnected-phone-zh")
        assert phone.unexpected("WebSocket connection", "ERR_CONNECTION_REFUSED") == []
    finally:
        await context.close()


async def _public_ladder_texts(page: Page, lot_id: int) -> list[dict[str, str]]:
    """The public ladder, newest first, formatted by the page's own code for comparison."""
    rows: list[dict[str, str]] = await page.evaluate(
        """async (id) => {
            const { yuan, beijingShort } = await import("/static/js/format.js");
            const rows = await (await fetch(`/api/lots/${id}/bids`)).json();
            return rows.reverse().map((r) => ({
                bidder_number: r.bidder_number, amount: yuan(r.amount_fen), at: beijingShort(r.at),
            }));
        }""",
        lot_id,
    )
    return rows


async def test_the_room_shows_no_round_in_the_free_period_and_the_first_one_after_it(
    browser: Browser, site: Site
) -> None:
    maker, base, api = site.maker, site.url, site.api
    official = await make_person(api, maker, Role.OFFICIAL, await make_village(maker))
    rules = {**TIMED_LOT["rules"], "free_period_s": 3, "countdown_s": 120}
    lot_id = (await create_lot(api, official, {**TIMED_LOT, "rules": rules}))["id"]
    await lifecycle(api, lot_id, official, "publish")
    await approve_bidder(api, lot_id, official, await make_person(api, maker, Role.BIDDER))
    await lifecycle(api, lot_id, official, "open")

    context = await browser.new_context()
    watched: Watched = await open_page(context)
    try:
        await watched.page.goto(f"{base}/lots/{lot_id}")
        await expect(watched.page.locator("#phase")).to_have_text("自由报价期")
        await expect(watched.page.locator("#round")).to_have_text("—")  # not "0"
        # The free period ends by the server's clock; the room hears it live.
        await expect(watched.page.locator("#round")).to_have_text("1", timeout=15_000)
        await expect(watched.page.locator("#phase")).not_to_have_text("自由报价期")
    finally:
        await context.close()
    assert watched.errors == []
