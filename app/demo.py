"""Demo data: the township of Shadui (沙堆镇) with its villages, people and lots in every state."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.accounts import service as accounts
from app.accounts.models import Role, User
from app.config import Settings
from app.db import create_engine, create_sessionmaker
from app.runtime import build_runtime

TOWNSHIP = "江门市新会区沙堆镇"
VILLAGES = ("梅阁村", "居安村", "独联村", "大环村", "沙西村", "那伏村")
DEMO_PASSWORD = "demo-pass-2026"
BIDDERS = (
    ("chenwei", "陈伟"),
    ("lixiuying", "李秀英"),
    ("huangzhiqiang", "黄志强"),
    ("lianggui", "梁桂芳"),
    ("wujianhua", "吴建华"),
    ("helijuan", "何丽娟"),
)
STAFF = (
    ("admin", Role.ADMIN, None, "系统管理员"),
    ("meige", Role.OFFICIAL, "梅阁村", "梅阁村经济合作社"),
    ("shaxi", Role.OFFICIAL, "沙西村", "沙西村经济合作社"),
    ("nafu", Role.OFFICIAL, "那伏村", "那伏村经济合作社"),
    ("dulian", Role.OFFICIAL, "独联村", "独联村经济合作社"),
    ("dahuan", Role.OFFICIAL, "大环村", "大环村经济合作社"),
    ("auditor", Role.AUDITOR, None, "沙堆镇纪委"),
)


async def create_admin_user(settings: Settings, username: str, password: str) -> None:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session, session.begin():
            await accounts.create_user(
                session, username=username, password=password, role=Role.ADMIN
            )
    finally:
        await engine.dispose()


async def load_demo(settings: Settings) -> bool:
    """Load the demo once; returns False when it was already there."""
    engine = create_engine(settings)
    try:
        maker = create_sessionmaker(engine, info={"runtime": build_runtime(settings)})
        async with maker() as session, session.begin():
            if await _already_loaded(session):
                return False
            await _create_people(session)
        from app.demo_lots import create_demo_lots

        await create_demo_lots(maker)
        return True
    finally:
        await engine.dispose()


async def _already_loaded(session: AsyncSession) -> bool:
    found = await session.execute(select(User.id).where(User.username == "meige"))
    return found.first() is not None


async def _create_people(session: AsyncSession) -> None:
    village_ids = {}
    for name in VILLAGES:
        village = await accounts.create_village(session, name=name, township=TOWNSHIP)
        village_ids[name] = village.id
    for username, role, village_name, display_name in STAFF:
        await accounts.create_user(
            session,
            username=username,
            password=DEMO_PASSWORD,
            role=role,
            village_id=village_ids[village_name] if village_name else None,
            display_name=display_name,
        )
    for number, (username, display_name) in enumerate(BIDDERS, start=1):
        await accounts.create_user(
            session,
            username=username,
            password=DEMO_PASSWORD,
            role=Role.BIDDER,
            display_name=display_name,
            phone=f"138 0000 00{number:02d}",
        )


def print_logins(settings: Settings, created: bool) -> None:
    url = f"http://{settings.host}:{settings.port}"
    state = "loaded" if created else "already loaded (unchanged)"
    lines = [
        f"Demo township {TOWNSHIP}: {state}.",
        f"  Open {url}/            the lots and bidding rooms",
        f"       {url}/docs        the API",
        f"Demo logins (password for all: {DEMO_PASSWORD}):",
        "  admin                      administrator",
        "  meige, shaxi, nafu, dulian, dahuan   village officials",
        "  auditor                    auditor (沙堆镇纪委)",
        "  " + ", ".join(u for u, _ in BIDDERS) + "   bidders",
    ]
    print("\n".join(lines))  # noqa: T201 - the command's own output
