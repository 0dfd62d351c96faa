"""The two languages stay in step, every code and key the pages use is translated, and money
is written as contracts write it."""

from __future__ import annotations

import re
import string
from pathlib import Path

import pytest

from app.auction.errors import CODES
from app.auction.events import INFORMATIONAL_EVENTS
from app.errors import _HTTP_CODES
from app.lots.models import LOT_STATUSES
from app.web import i18n
from app.web.formatting import capital_amount, format_yuan
from app.web.lot_form import GROUPS
from app.web.public_pages import ASSET_KINDS

APP = Path(__file__).resolve().parents[2] / "app"
WEB = APP / "web"
# Codes given to AppError and its kinds, or to problem(): the ones a page may have to explain.
_RAISED = re.compile(
    r"(?:AppError\(\s*\d+,|NotFound\(|Conflict\(|problem\(\s*\d+,|error_page\([^,]+,\s*\d+,)"
    r"\s*\"([a-z_]+)\"|Unauthorized\([^)]*?\"([a-z_]+)\"\s*\)"
)
_PLACEHOLDER = string.Formatter()
EVENT_TYPES = {
    "lot_created", "rules_updated", "lot_published", "bidder_qualified", "lot_opened",
    "bid_placed", "timed_period_started", "round_started", "turn_started", "raise_withdrawn",
    "turn_ended", "round_ended", "bidding_ended", "priority_window_opened", "priority_decided",
    "priority_window_expired", "lot_paused", "lot_resumed", "lot_closed", "lot_cancelled",
}  # fmt: skip


def _placeholders(text: str) -> set[str]:
    return {name for _, name, _, _ in _PLACEHOLDER.parse(text) if name}


def test_both_languages_have_the_same_keys_and_placeholders() -> None:
    zh, en = i18n.messages("zh"), i18n.messages("en")
    assert sorted(set(zh) ^ set(en)) == []
    for key in zh:
        assert zh[key].strip(), f"{key} is empty in Chinese"
        assert en[key].strip(), f"{key} is empty in English"
        assert _placeholders(zh[key]) == _placeholders(en[key]), key


def _raised_codes() -> set[str]:
    codes: set[str] = set()
    for path in APP.rglob("*.py"):
        for match in _RAISED.finditer(path.read_text(encoding="utf-8")):
            codes.add(match.group(1) or match.group(2))
    return codes


def test_every_error_code_of_the_service_is_explained_in_words() -> None:
    codes = set(CODES) | set(_HTTP_CODES.values()) | _raised_codes()
    codes |= {"validation_failed", "malformed_json", "not_authenticated", "http_error"}
    assert len(codes) > 40
    missing = sorted(code for code in codes if not i18n.has(f"err.{code}"))
    assert missing == []


def test_every_status_phase_kind_format_outcome_and_event_has_a_name() -> None:
    phases = {"none", "free", "timed", "first_pause", "turn", "round_pause", "sealed_round"}
    phases |= {"priority", "turn_over", "round_over", "ended"}
    ended_by = {"countdown", "hard_end", "cap", "last_round", "no_bids_in_round"}
    ended_by |= {"single_bidder_left", "closed_early"}
    reasons = {"highest_bid", "priority_matched", "no_bids", "below_reserve"}
    wanted = (
        [f"status.{s}" for s in LOT_STATUSES]
        + [f"phase.{p}" for p in phases]
        + [f"kind.{k}" for k in ASSET_KINDS]
        + [f"format.{f}" for f in ("timed", "sequential", "sealed")]
        + [f"ended_by.{e}" for e in ended_by]
        + [f"reason.{r}" for r in reasons]
        + [f"ev.{e}" for e in EVENT_TYPES | INFORMATIONAL_EVENTS]
        + [f"group.{g.key}" for g in GROUPS]
        + [f"param.{f.name}{suffix}" for g in GROUPS for f in g.fields for suffix in ("", ".hint")]
    )
    assert [key for key in wanted if not i18n.has(key)] == []


def _literal_keys() -> set[str]:
    """Every key-shaped string in a call of ``t(...)``, or in a namespace of the dictionary."""
    namespaces = "|".join({key.split(".", 1)[0] for key in i18n.messages("zh")})
    in_namespace = re.compile(rf"[\"']((?:{namespaces})\.[a-z0-9_.]*[a-z0-9])[\"']")
    call = re.compile(r"\bt\(([^()]*)")
    key = re.compile(r"[\"']([a-z_]+\.[a-z0-9_.]*[a-z0-9])[\"']")
    found: set[str] = set()
    for path in [*WEB.glob("templates/**/*.html"), *WEB.glob("static/js/*.js")]:
        text = path.read_text(encoding="utf-8")
        found |= set(in_namespace.findall(text))
        for arguments in call.findall(text):
            found |= set(key.findall(arguments))
    return found


def test_every_key_the_templates_and_scripts_name_is_in_the_dictionary() -> None:
    keys = _literal_keys()
    assert len(keys) > 200
    assert sorted(key for key in keys if not i18n.has(key)) == []


def test_the_scripts_get_every_key_they_look_up() -> None:
    scripts = "".join(p.read_text(encoding="utf-8") for p in WEB.glob("static/js/*.js"))
    used = {key for key in _literal_keys() if f'"{key}"' in scripts}
    assert sorted(key for key in used if not key.startswith(i18n.JS_PREFIXES)) == []


def test_a_missing_key_shows_up_marked_and_placeholders_are_filled() -> None:
    assert i18n.translate("zh", "no.such.key") == "⟦no.such.key⟧"
    assert i18n.translate("en", "lots.months", n=60) == "60 months"
    assert i18n.translate("zh", "lots.months", n=60) == "60 个月"


@pytest.mark.parametrize(
    ("fen", "words"),
    [
        (30_500_000, "叁拾万伍仟元整"),
        (30_000_000, "叁拾万元整"),
        (1_000, "壹拾元整"),
        (10_050_000, "壹拾万零伍佰元整"),
        (10_000_000_100, "壹亿零壹元整"),
        (10_001_000_000, "壹亿零壹万元整"),
        (101_000, "壹仟零壹拾元整"),
        (168_032, "壹仟陆佰捌拾元叁角贰分"),
        (150, "壹元伍角整"),
        (105, "壹元零伍分"),
        (5, "伍分"),
        (0, "零元整"),
    ],
)
def test_amounts_are_written_in_capital_numerals_as_contracts_write_them(
    fen: int, words: str
) -> None:
    assert capital_amount(fen) == words


def test_yuan_have_thousands_separators_and_cents_only_when_there_are_any() -> None:
    assert format_yuan(30_500_000) == "¥305,000"
    assert format_yuan(168_032) == "¥1,680.32"
    assert format_yuan(None) == "—"
