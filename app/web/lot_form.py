"""The lot editor's fields: every format parameter, its unit, range and default (from the rules)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from app.auction.rules import (
    MAX_FEN,
    MAX_ROUNDS,
    MAX_SECONDS,
    SealedRules,
    SequentialRules,
    TimedRules,
)
from app.lots.models import Lot
from app.web.formatting import BEIJING, parse_utc

_CLASSES = {"timed": TimedRules, "sequential": SequentialRules, "sealed": SealedRules}


@dataclass(frozen=True, slots=True)
class Field:
    """One input: ``kind`` is yuan, seconds, int, bool, choice or time (Beijing, to UTC)."""

    name: str
    kind: str
    required: bool = False
    low: int = 0
    high: int = MAX_FEN
    choices: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Group:
    """A fieldset shown only for the formats it lists."""

    key: str
    formats: tuple[str, ...]
    fields: tuple[Field, ...]

    @property
    def format(self) -> str:
        return self.formats[0]


_ALL = ("timed", "sequential", "sealed")
_YUAN_HIGH = MAX_FEN // 100
GROUPS = (
    Group(
        "price",
        _ALL,
        (
            Field("start_price_fen", "yuan", required=True, low=1, high=_YUAN_HIGH),
            Field("step_fen", "yuan", required=True, low=1, high=_YUAN_HIGH),
            Field("reserve_price_fen", "yuan", low=1, high=_YUAN_HIGH),
        ),
    ),
    Group(
        "ascending",
        ("timed", "sequential"),
        (
            Field("step_multiple_only", "bool"),
            Field("max_raise_fen", "yuan", low=1, high=_YUAN_HIGH),
        ),
    ),
    Group(
        "timed",
        ("timed",),
        (
            Field("cap_price_fen", "yuan", low=1, high=_YUAN_HIGH),
            Field("free_period_s", "seconds", low=0, high=MAX_SECONDS),
            Field("countdown_s", "seconds", required=True, low=1, high=MAX_SECONDS),
            Field("hard_end_at", "time"),
        ),
    ),
    Group(
        "sequential",
        ("sequential",),
        (
            Field("rounds", "int", required=True, low=1, high=MAX_ROUNDS),
            Field("turn_s", "seconds", required=True, low=1, high=MAX_SECONDS),
            Field("pause_s", "seconds", required=True, low=0, high=MAX_SECONDS),
            Field("first_pause_s", "seconds", required=True, low=0, high=MAX_SECONDS),
            Field("raise_over", "choice", choices=("leader", "own")),
        ),
    ),
    Group(
        "sealed",
        ("sealed",),
        (
            Field("rounds", "int", required=True, low=1, high=MAX_ROUNDS),
            Field("round_s", "seconds", required=True, low=1, high=MAX_SECONDS),
        ),
    ),
    Group(
        "admission",
        _ALL,
        (
            Field("min_bidders", "int", required=True, low=1, high=1000),
            Field("priority_window_s", "seconds", required=True, low=1, high=MAX_SECONDS),
        ),
    ),
)


def _defaults(format: str) -> dict[str, Any]:
    return {
        f.name: f.default
        for f in dataclasses.fields(_CLASSES[format])
        if f.default is not dataclasses.MISSING
    }


def _shown(kind: str, value: Any) -> str:
    """A rule value as the input shows it: yuan for fen, Beijing time for UTC."""
    if value is None:
        return ""
    if kind == "yuan":
        yuan, cents = divmod(int(value), 100)
        return f"{yuan}.{cents:02d}" if cents else str(yuan)
    if kind == "bool":
        return "1" if value else ""
    if kind == "time":
        return beijing_input(value)
    return str(value)


def beijing_input(value: Any) -> str:
    """A UTC time (ISO text or datetime) as a ``datetime-local`` value in Beijing time."""
    moment = parse_utc(value) if isinstance(value, str) else value
    return str(moment.astimezone(BEIJING).strftime("%Y-%m-%dT%H:%M"))


def form_values(lot: Lot | None) -> dict[str, dict[str, str]]:
    """Per group, the value of each input: the lot's own, else the rules' defaults."""
    values: dict[str, dict[str, str]] = {}
    for group in GROUPS:
        own = lot is not None and lot.format in group.formats
        rules = _defaults(lot.format if lot is not None and own else group.format)
        if lot is not None and own:
            rules.update(lot.rules)
        values[group.key] = {f.name: _shown(f.kind, rules.get(f.name)) for f in group.fields}
    values["details"] = _details(lot)
    return values


def _details(lot: Lot | None) -> dict[str, str]:
    if lot is None:
        return {"format": "timed", "asset_kind": "market", "lease_term_months": "12"}
    return {
        "title": lot.title,
        "asset_kind": lot.asset_kind,
        "description": lot.description,
        "location": lot.location,
        "area_m2": "" if lot.area_m2 is None else str(lot.area_m2),
        "lease_term_months": str(lot.lease_term_months),
        "format": lot.format,
        "starts_at": beijing_input(lot.starts_at) if lot.starts_at else "",
    }
