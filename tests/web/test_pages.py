"""The pages as a server answers them: languages, sign-in redirects, error pages, CSRF on the
sign-out form, the lot editor's values and the auditors' verify button."""

from __future__ import annotations

import re

import httpx
from fastapi import FastAPI

from app.accounts.models import Role
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


async def _browser_session(client: httpx.AsyncClient, username: str) -> str:
    """Sign in as a browser does (the cookie stays); returns the session's CSRF secret."""
    response = await client.post(
        "/api/auth/token", data={"username": username, "password": PASSWORD}
    )
    assert response.status_code == 200
    csrf: str = (await client.get("/api/auth/csrf")).json()["csrf_token"]
    return csrf


async def test_pages_speak_chinese_by_default_and_english_once_chosen(
    client: httpx.AsyncClient,
) -> None:
    chinese = await client.get("/")
    assert chinese.status_code == 200
    assert '<html lang="zh-CN">' in chinese.text
    assert "竞价项目" in chinese.text

    switched = await client.get("/lang/en", params={"next": "/signin?next=/me"})
    assert (switched.status_code, switched.headers["location"]) == (303, "/signin?next=/me")
    english = await client.get("/signin")
    assert '<html lang="en">' in english.text
    assert "Sign in" in english.text
    assert "⟦" not in chinese.text + english.text


async def test_the_language_switch_never_sends_the_reader_to_another_site(
    client: httpx.AsyncClient,
) -> None:
    for target in ("https://evil.example/", "//evil.example/", "/\\evil.example"):
        response = await client.get("/lang/en", params={"next": target})
        assert response.headers["location"] == "/"


async def test_an_unknown_page_is_a_page_but_an_unknown_api_path_stays_a_problem(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/no/such/page")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert "找不到页面" in page.text
    assert (await client.get("/lots/999")).status_code == 404
    api = await client.get("/api/no-such-thing")
    assert (api.status_code, api.headers["content-type"]) == (404, "application/problem+json")
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_officials_and_auditors_pages_ask_to_sign_in_and_refuse_other_roles(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    for path in ("/console", "/console/lots/new", "/audit", "/me"):
        response = await client.get(path)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/signin?next=")
    await make_person(client, app.state.sessionmaker, Role.BIDDER, name="chenwei")
    await _browser_session(client, "chenwei")
    for path in ("/console", "/audit"):
        refused = await client.get(path)
        assert refused.status_code == 403
        assert "无权访问" in refused.text
    assert (await client.get("/me")).status_code == 200


async def test_signing_out_needs_the_sessions_csrf_secret(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    await make_person(client, app.state.sessionmaker, Role.BIDDER, name="lixiuying")
    csrf = await _browser_session(client, "lixiuying")

    forged = await client.post("/signout", data={"csrf_token": "guessed"})
    assert forged.status_code == 403
    assert (await client.get("/api/me")).status_code == 200

    signed_out = await client.post("/signout", data={"csrf_token": csrf})
    assert (signed_out.status_code, signed_out.headers["location"]) == (303, "/")
    assert "auction_session" not in client.cookies


async def test_the_lot_editor_shows_a_drafts_rules_in_yuan_and_beijing_time(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    maker = app.state.sessionmaker
    official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
    rules = {**TIMED_LOT["rules"], "hard_end_at": "2030-01-01T02:00:00Z"}
    lot = await create_lot(client, official, {**TIMED_LOT, "rules": rules})
    await _browser_session(client, official.username)

    page = await client.get(f"/console/lots/{lot['id']}/edit")
    assert page.status_code == 200
    assert re.search(r'name="rules.start_price_fen"[^>]*value="300000"', page.text)
    assert re.search(r'name="rules.hard_end_at"[^>]*value="2030-01-01T10:00"', page.text)
    assert re.search(r'id="format-timed"[^>]*checked', page.text)
    manage = await client.get(f"/console/lots/{lot['id']}")
    assert "¥300,000" in manage.text
    assert "发布公告" in manage.text


async def test_the_verify_button_runs_the_offline_verifier_on_the_lots_history(
    client: httpx.AsyncClient, app: FastAPI
) -> None:
    maker = app.state.sessionmaker
    official = await make_person(client, maker, Role.OFFICIAL, await make_village(maker))
    lot = await create_lot(client, official)
    await lifecycle(client, lot["id"], official, "publish")
    chen = await make_person(client, maker, Role.BIDDER)
    await approve_bidder(client, lot["id"], official, chen)
    await lifecycle(client, lot["id"], official, "open")
    assert (await bid(client, lot["id"], chen, 30_000_000)).status_code == 201
    await lifecycle(client, lot["id"], official, "close", "test over")
    await make_person(client, maker, Role.AUDITOR, name="auditor")

    await _browser_session(client, "auditor")
    verdict = (await client.get(f"/audit/lots/{lot['id']}/verify")).json()
    assert verdict["valid"] is True, verdict
    assert verdict["events"] >= 8
    result = await client.get(f"/console/lots/{lot['id']}/result")
    assert result.status_code == 200
    assert "叁拾万元整" in result.text
    assert "成交确认书" in result.text

    await _browser_session(client, chen.username)
    assert (await client.get(f"/audit/lots/{lot['id']}/verify")).status_code == 403


async def test_static_files_are_revalidated_so_no_stale_script_survives_an_upgrade(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/static/js/room.js")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-cache"
    assert "javascript" in response.headers["content-type"]
