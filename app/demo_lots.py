"""The demo's lots, one in each state, driven through the real services on the real clock."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.accounts.models import User
from app.bidding import service as bidding
from app.bidding.schemas import BidRequest
from app.db import transaction
from app.lots import registrations, service
from app.lots.schemas import LotFields

YUAN = 100
MU_M2 = 667  # one mu (亩) is about 666.7 m²


def _lot(
    title: str, kind: str, months: int, fmt: str, rules: dict[str, Any], **extra: Any
) -> LotFields:
    return LotFields(
        title=title, asset_kind=kind, lease_term_months=months, format=fmt, rules=rules, **extra
    )


LOTS: dict[str, tuple[str, LotFields]] = {
    "meige": (
        "meige",
        _lot(
            "梅阁市场租赁经营权",
            "market",
            60,
            "timed",
            {
                "start_price_fen": 300_000 * YUAN,
                "step_fen": 5_000 * YUAN,
                "countdown_s": 300,
                "free_period_s": 30 * 60,
                "reserve_price_fen": 320_000 * YUAN,
            },
            description="梅阁市场整体租赁经营权,租期5年,年租金起拍价30万元。"
            "The whole Meige market, 5-year operating lease; bids are yearly rent.",
            location="江门市新会区沙堆镇梅阁村",
            area_m2=4_800,
        ),
    ),
    "shaxi": (
        "shaxi",
        _lot(
            "沙西村农田承包经营权 600 亩",
            "farmland",
            36,
            "sequential",
            {"start_price_fen": 480_000 * YUAN, "step_fen": 6_000 * YUAN, "rounds": 3},
            description="沙西村集体农田600亩,承包期3年,按多轮报价方式竞价。600 mu of farmland.",
            location="沙堆镇沙西村",
            area_m2=600 * MU_M2,
        ),
    ),
    "nafu": (
        "nafu",
        _lot(
            "那伏村工业用地租赁",
            "industrial_land",
            120,
            "sealed",
            {"start_price_fen": 850_000 * YUAN, "step_fen": 10_000 * YUAN},
            description="那伏村工业用地,租期10年,一次性密封报价。Sealed one-shot tender.",
            location="沙堆镇那伏村",
            area_m2=20_000,
        ),
    ),
    "dulian": (
        "dulian",
        _lot(
            "独联村鱼塘承包",
            "fishpond",
            36,
            "timed",
            {
                "start_price_fen": 62_000 * YUAN,
                "step_fen": 1_000 * YUAN,
                "free_period_s": 3600,
                "countdown_s": 300,
            },
            description="独联村鱼塘三口,承包期3年;自由报价期1小时。Three fish ponds.",
            location="沙堆镇独联村",
            area_m2=53_000,
        ),
    ),
    "dahuan": (
        "dahuan",
        _lot(
            "大环村临街商铺",
            "shopfront",
            24,
            "timed",
            {"start_price_fen": 36_000 * YUAN, "step_fen": 1_000 * YUAN, "countdown_s": 300},
            description="大环村临街商铺一间,租期2年;现承租人享有优先承租权。Street-front shop; "
            "the sitting tenant holds a priority right.",
            location="沙堆镇大环村大环路12号",
            area_m2=85,
        ),
    ),
    "draft": (
        "meige",
        _lot(
            "梅阁村农贸摊位 12 个",
            "market",
            24,
            "timed",
            {"start_price_fen": 4_800 * YUAN, "step_fen": 200 * YUAN},
            description="草稿:待公告。Twelve market stalls, still a draft.",
            location="梅阁村",
        ),
    ),
}


class Demo:
    def __init__(self, maker: async_sessionmaker[AsyncSession]) -> None:
        self.maker = maker
        self.users: dict[str, User] = {}

    async def load_users(self) -> None:
        async with self.maker() as session:
            for user in (await session.execute(select(User))).scalars():
                self.users[user.username] = user

    async def lot(self, key: str) -> int:
        official, fields = LOTS[key]
        async with transaction(self.maker) as session:
            lot = await service.create_lot(session, self.users[official], fields)
        return lot.id

    async def act(self, key: str, lot_id: int, action: str, reason: str = "") -> None:
        official = self.users[LOTS[key][0]]
        async with transaction(self.maker) as session:
            await service.change_lifecycle(session, official, lot_id, action, reason)

    async def admit(
        self,
        key: str,
        lot_id: int,
        bidder: str,
        initial_bid_fen: int | None = None,
        priority: bool = False,
        approve: bool = True,
    ) -> None:
        async with transaction(self.maker) as session:
            registration = await registrations.submit(
                session, self.users[bidder], lot_id, initial_bid_fen
            )
        if not approve:
            return
        async with transaction(self.maker) as session:
            await registrations.approve(
                session,
                self.users[LOTS[key][0]],
                lot_id,
                registration.id,
                deposit_fen=5_000 * YUAN,
                note="保证金已到账",
                priority=priority,
            )

    async def bid(self, lot_id: int, bidder: str, amount_fen: int, key: str) -> None:
        await bidding.place_bid(
            self.maker, self.users[bidder], lot_id, BidRequest(amount_fen=amount_fen), key
        )


async def create_demo_lots(maker: async_sessionmaker[AsyncSession]) -> None:
    demo = Demo(maker)
    await demo.load_users()
    bidders = ["chenwei", "lixiuying", "huangzhiqiang", "lianggui", "wujianhua", "helijuan"]

    # Live: the Meige market lease, six bidders, a dozen rounds in.
    meige = await demo.lot("meige")
    await demo.act("meige", meige, "publish")
    for name in bidders:
        await demo.admit("meige", meige, name)
    await demo.act("meige", meige, "open")
    price = 300_000 * YUAN
    for round_number in range(12):
        await demo.bid(meige, bidders[round_number % 6], price, f"demo-meige-{round_number}")
        price += 5_000 * YUAN * (1 + round_number % 3)

    # Registration: Shaxi farmland, sequential rounds, sealed initial bids coming in.
    shaxi = await demo.lot("shaxi")
    await demo.act("shaxi", shaxi, "publish")
    await demo.admit("shaxi", shaxi, "wujianhua", initial_bid_fen=486_000 * YUAN)
    await demo.admit("shaxi", shaxi, "huangzhiqiang", initial_bid_fen=492_000 * YUAN)
    await demo.admit("shaxi", shaxi, "lianggui", initial_bid_fen=480_000 * YUAN, approve=False)

    # Paused: Dulian fish ponds, halted for a network fault during the free period.
    dulian = await demo.lot("dulian")
    await demo.act("dulian", dulian, "publish")
    for name in ("chenwei", "helijuan", "lixiuying"):
        await demo.admit("dulian", dulian, name)
    await demo.act("dulian", dulian, "open")
    await demo.bid(dulian, "helijuan", 62_000 * YUAN, "demo-dulian-1")
    await demo.bid(dulian, "chenwei", 64_000 * YUAN, "demo-dulian-2")
    await demo.act("dulian", dulian, "pause", "村委会网络故障,暂停竞价 (network fault)")

    # Closed, sold: Nafu industrial land, a sealed one-shot tender.
    nafu = await demo.lot("nafu")
    await demo.act("nafu", nafu, "publish")
    for name in ("huangzhiqiang", "lixiuying", "wujianhua"):
        await demo.admit("nafu", nafu, name)
    await demo.act("nafu", nafu, "open")
    await demo.bid(nafu, "huangzhiqiang", 910_000 * YUAN, "demo-nafu-1")
    await demo.bid(nafu, "lixiuying", 880_000 * YUAN, "demo-nafu-2")
    await demo.bid(nafu, "wujianhua", 935_000 * YUAN, "demo-nafu-3")
    await demo.act("nafu", nafu, "close", "投标截止,当场开标 (tenders opened)")

    # Closed, unsold: the Dahuan shop front; the only bid stayed under the start of interest.
    dahuan = await demo.lot("dahuan")
    await demo.act("dahuan", dahuan, "publish")
    await demo.admit("dahuan", dahuan, "lianggui", priority=True)
    await demo.admit("dahuan", dahuan, "chenwei")
    await demo.act("dahuan", dahuan, "open")
    await demo.act("dahuan", dahuan, "close", "无人报价,流拍 (no bids)")

    # Draft: market stalls, not yet published.
    await demo.lot("draft")
