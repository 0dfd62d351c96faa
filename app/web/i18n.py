"""The pages' two languages: one flat dictionary per language, Simplified Chinese by default."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any, Final

from starlette.requests import HTTPConnection

LANGUAGES: Final = ("zh", "en")
DEFAULT_LANGUAGE: Final = "zh"
LANGUAGE_COOKIE: Final = "lang"
HTML_LANG: Final = {"zh": "zh-CN", "en": "en"}
MISSING_MARK: Final = "⟦{}⟧"
"""What a key without a translation shows as, so a test (or a reader) spots it at once."""
JS_PREFIXES: Final = (
    "live.",
    "err.",
    "ev.",
    "status.",
    "phase.",
    "format.",
    "kind.",
    "ended_by.",
    "reason.",
    "form.",
    "bid.",
    "audit.",
    "unit.",
)
"""The keys the JavaScript modules look up; only these are embedded in a page."""

_LOCALES = Path(__file__).parent / "locales"


@cache
def messages(language: str) -> dict[str, str]:
    """The dictionary of ``language`` (a copy is never needed: callers only read it)."""
    with (_LOCALES / f"{language}.json").open(encoding="utf-8") as file:
        loaded: dict[str, str] = json.load(file)
    return loaded


def translate(language: str, key: str, **params: Any) -> str:
    """The text of ``key`` in ``language`` with ``{name}`` placeholders filled in."""
    text = messages(language).get(key)
    if text is None:
        return MISSING_MARK.format(key)
    return text.format_map(params) if params else text


def has(key: str) -> bool:
    """Whether ``key`` has a translation (the test keeps both languages in step)."""
    return key in messages(DEFAULT_LANGUAGE)


def js_messages(language: str) -> dict[str, str]:
    """The part of the dictionary the page's scripts need."""
    return {k: v for k, v in messages(language).items() if k.startswith(JS_PREFIXES)}


def pick_language(connection: HTTPConnection) -> str:
    """The reader's choice (cookie ``lang``), else Chinese."""
    chosen = connection.cookies.get(LANGUAGE_COOKIE, "")
    return chosen if chosen in LANGUAGES else DEFAULT_LANGUAGE
