"""Accounts: sign-in, self-registration, roles, sessions and the sign-in throttle."""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import httpx
from fastapi import FastAPI
from sqlalchemy import func, select

from app.accounts.models import Role, User
from app.accounts.security import LoginThrottle
from tests.factories import PASSWORD, make_person, make_village


async def test_a_bidder_registers_signs_in_and_sees_themself(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/auth/register",
        json={
            "username": "chenwei",
            "password": "long enough pw",
            "display_name": "陈伟",
            "phone": "138 0000 0001",
        },
    )
    assert response.status_code == 201, response.text
    assert "phone" not in response.json()
    assert "password" not in response.text

    token = await client.post(
        "/api/auth/token", data={"username": "chenwei", "password": "long enough pw"}
    )
    assert token.status_code == 200
    me = await client.get(
        "/api/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert me.json() == {
        "id": me.json()["id"],
        "username": "chenwei",
        "role": "bidder",
        "village_id": None,
        "display_name": "陈伟",
    }


async def test_passwords_are_stored_as_argon2_hashes(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await make_person(client, app.state.sessionmaker, Role.BIDDER, name="hashcheck")
    async with app.state.sessionmaker() as session:
        user = (
            await session.execute(select(User).where(User.username == "hashcheck"))
        ).scalar_one()
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash


async def test_a_taken_username_is_refused(client: httpx.AsyncClient) -> None:
    body = {
        "username": "twice",
        "password": "long enough pw",
        "display_name": "X",
        "phone": "138 0000 0002",
    }
    assert (await client.post("/api/auth/register", json=body)).status_code == 201
    again = await client.post("/api/auth/register", json=body)
    assert again.status_code == 409
    assert again.json()["code"] == "username_taken"


async def test_a_wrong_password_is_refused_with_a_stable_code(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/auth/token", data={"username": "nobody", "password": "x"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


async def test_repeated_failed_sign_ins_are_throttled(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await make_person(client, app.state.sessionmaker, Role.BIDDER, name="target")
    codes = [(await sign_in(client, "target", "wrong password")).json()["code"] for _ in range(7)]
    assert codes[:5] == ["invalid_credentials"] * 5
    assert codes[5:] == ["too_many_attempts"] * 2
    # Even the right password waits until the window has passed.
    assert (await sign_in(client, "target", PASSWORD)).status_code == 429


async def test_failed_sign_ins_from_one_address_are_throttled_whatever_names_they_try(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    chen = await make_person(client, app.state.sessionmaker, Role.BIDDER)
    per_address = app.state.settings.login_attempts_per_minute_per_address
    async with from_address(app, "10.0.0.1") as spraying, from_address(app, "10.0.0.2") as other:
        guesses = [await sign_in(spraying, f"guess-{n}", "wrong") for n in range(per_address + 1)]
        # The same account from another address is not held up by that address's guesses.
        signed_in = await sign_in(other, chen.username, PASSWORD)
    codes = [guess.json()["code"] for guess in guesses]
    assert codes == ["invalid_credentials"] * per_address + ["too_many_attempts"]
    assert signed_in.status_code == 200


async def test_a_rival_failing_on_purpose_cannot_keep_a_bidder_from_signing_in(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    chen = await make_person(client, app.state.sessionmaker, Role.BIDDER)
    per_account = app.state.settings.login_attempts_per_minute
    async with from_address(app, "10.0.0.66") as rival, from_address(app, "10.0.0.8") as own:
        for _ in range(per_account):
            await sign_in(rival, chen.username, "wrong password")
        from_the_rival = await sign_in(rival, chen.username, PASSWORD)
        signed_in = await sign_in(own, chen.username, PASSWORD)
    assert from_the_rival.json()["code"] == "too_many_attempts"  # guessing from there is held up
    assert signed_in.status_code == 200  # the bidder, from their own address, is not


async def test_guesses_sent_all_at_once_are_held_up_like_guesses_sent_in_turn(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    chen = await make_person(client, app.state.sessionmaker, Role.BIDDER)
    per_account = app.state.settings.login_attempts_per_minute
    async with from_address(app, "10.0.0.66") as rival:
        guesses = await asyncio.gather(
            *(sign_in(rival, chen.username, f"guess {n}") for n in range(4 * per_account))
        )
    codes = Counter(guess.json()["code"] for guess in guesses)
    assert codes == {"invalid_credentials": per_account, "too_many_attempts": 3 * per_account}


async def test_the_addresses_of_one_ipv6_network_share_their_limit(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    per_address = app.state.settings.login_attempts_per_minute_per_address
    codes = []
    for n in range(per_address + 1):  # a new address of the same /64 for every guess
        async with from_address(app, f"2001:db8:5:7::{n + 1:x}") as walking:
            codes.append((await sign_in(walking, f"guess-{n}", "wrong")).json()["code"])
    assert codes == ["invalid_credentials"] * per_address + ["too_many_attempts"]
    async with from_address(app, "2001:db8:5:8::1") as neighbour:  # another /64
        assert (await sign_in(neighbour, "guess-0", "wrong")).json()["code"] == (
            "invalid_credentials"
        )


async def sign_in(client: httpx.AsyncClient, username: str, password: str) -> httpx.Response:
    return await client.post("/api/auth/token", data={"username": username, "password": password})


def from_address(app: FastAPI, address: str) -> httpx.AsyncClient:
    """A client of ``app`` connecting from ``address``."""
    transport = httpx.ASGITransport(app=app, client=(address, 40000))
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


def test_names_sprayed_at_the_sign_in_are_forgotten_once_their_minute_is_over() -> None:
    throttle = LoginThrottle(per_account=5, per_address=1000, window_s=0.05)
    for n in range(500):
        throttle.begin(f"guess-{n}", "10.0.0.1")
    assert throttle.retry_after("guess-1", "10.0.0.1") == 0  # one failure each: under the limit
    time.sleep(0.06)
    throttle.retry_after("someone", "10.0.0.9")  # any later sign-in sweeps the expired ones
    assert throttle.tracked() == 0


async def test_only_an_admin_creates_villages_and_officials(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    maker = app.state.sessionmaker
    admin = await make_person(client, maker, Role.ADMIN)
    bidder = await make_person(client, maker, Role.BIDDER)
    body = {"name": "居安村", "township": "沙堆镇"}

    assert (await client.post("/api/villages", json=body)).status_code == 401
    refused = await client.post("/api/villages", json=body, headers=bidder.headers)
    assert refused.status_code == 403
    created = await client.post("/api/villages", json=body, headers=admin.headers)
    assert created.status_code == 201

    official = {
        "username": "juan",
        "password": "long enough pw",
        "role": "official",
        "village_id": created.json()["id"],
    }
    assert (
        await client.post("/api/users", json=official, headers=bidder.headers)
    ).status_code == 403
    response = await client.post("/api/users", json=official, headers=admin.headers)
    assert response.status_code == 201
    assert response.json()["village_id"] == created.json()["id"]


async def test_an_official_must_belong_to_a_village(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    admin = await make_person(client, app.state.sessionmaker, Role.ADMIN)
    body = {"username": "loose", "password": "long enough pw", "role": "official"}
    response = await client.post("/api/users", json=body, headers=admin.headers)
    assert response.status_code == 422
    assert response.json()["code"] == "village_required"
    async with app.state.sessionmaker() as session:
        count = (await session.execute(select(func.count()).select_from(User))).scalar_one()
    assert count == 1  # only the admin


async def test_a_cookie_session_needs_the_csrf_token_to_change_anything(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    maker = app.state.sessionmaker
    village_id = await make_village(maker)
    official = await make_person(client, maker, Role.OFFICIAL, village_id)
    client.headers.clear()
    signed_in = await client.post(
        "/api/auth/token", data={"username": official.username, "password": PASSWORD}
    )
    assert "auction_session" in signed_in.cookies
    assert (await client.get("/api/me")).status_code == 200  # reading needs no CSRF token

    lot = {
        "title": "t",
        "asset_kind": "market",
        "lease_term_months": 12,
        "format": "timed",
        "rules": {"start_price_fen": 100, "step_fen": 10},
    }
    forged = await client.post("/api/lots", json=lot)
    assert forged.status_code == 403
    assert forged.json()["code"] == "csrf_failed"

    csrf = await client.get("/api/auth/csrf")
    allowed = await client.post(
        "/api/lots", json=lot, headers={"X-CSRF-Token": csrf.json()["csrf_token"]}
    )
    assert allowed.status_code == 201, allowed.text


async def test_a_forged_token_is_refused(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/me", headers={"Authorization": "Bearer abc.def"})
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_token"


async def test_the_session_cookie_is_secure_exactly_when_the_site_is_served_over_https(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    chen = await make_person(client, app.state.sessionmaker, Role.BIDDER)
    form = {"username": chen.username, "password": PASSWORD}
    cookies = {}
    for scheme in ("http", "https"):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url=f"{scheme}://site") as browser:
            signed_in = await browser.post("/api/auth/token", data=form)
        cookies[scheme] = signed_in.headers["set-cookie"].lower()
    assert "httponly" in cookies["http"]
    assert "secure" not in cookies["http"]  # a browser would drop a Secure cookie over http
    assert "; secure" in cookies["https"]
