"""The Jinja2 environment of the pages and the one function that renders a page."""

from __future__ import annotations

import json
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from app.auction import format_time
from app.web import formatting, i18n
from app.web.session import Viewer

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"

environment = Environment(
    loader=FileSystemLoader(_HERE / "templates"),
    autoescape=select_autoescape(("html",)),
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters.update(
    yuan=formatting.format_yuan,
    capital=formatting.capital_amount,
    beijing=formatting.beijing_time,
    beijing_short=formatting.beijing_short,
)


def _json_default(value: object) -> str:
    if isinstance(value, datetime):
        return format_time(value)
    return str(value)


def _json_script(value: Any) -> Markup:
    """JSON safe to place inside ``<script type="application/json">`` (times as on the wire)."""
    text = json.dumps(value, ensure_ascii=False, default=_json_default)
    return Markup(text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026"))


environment.filters["json_script"] = _json_script


CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
"""Only this site's own scripts run and no other site may frame a page (no click-jacked bid)."""


def duration(language: str, seconds: int | None) -> str:
    """``5400`` -> ``1 小时 30 分钟`` (or ``1 h 30 min``)."""
    if seconds is None:
        return "—"
    hours, rest = divmod(int(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        i18n.translate(language, key, n=n)
        for key, n in (("unit.h", hours), ("unit.min", minutes), ("unit.s", secs))
        if n
    ]
    return " ".join(parts) or i18n.translate(language, "unit.s", n=0)


def local_path(target: str | None, fallback: str = "/") -> str:
    """``target`` if it is a path on this site (never another site's address), else fallback."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return fallback
    return target


def render(
    request: Request,
    viewer: Viewer,
    template: str,
    context: dict[str, Any] | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """Render ``template`` in the reader's language, with the header's and scripts' needs."""
    language = i18n.pick_language(request)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    page = environment.get_template(template).render(
        request=request,
        viewer=viewer,
        lang=language,
        html_lang=i18n.HTML_LANG[language],
        other_lang="en" if language == "zh" else "zh",
        t=partial(i18n.translate, language),
        duration=partial(duration, language),
        js_messages=i18n.js_messages(language),
        here=here,
        here_quoted=quote(here, safe=""),
        **(context or {}),
    )
    response = HTMLResponse(page, status_code=status_code)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
    return response
