"""Rule parameters of each format: validation, defaults and the public (reserve-free) view."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from app.auction.errors import RuleViolation
from app.auction.events import format_time, parse_time

MAX_FEN = 2**53  # the largest integer a JSON reader is guaranteed to keep exact
MAX_SECONDS = 30 * 24 * 3600
MAX_ROUNDS = 50
FORMATS = ("timed", "sequential", "sealed")


@dataclass(frozen=True, slots=True)
class TimedRules:
    """网络竞价: a free period (自由报价期), then a timed period (限时报价期)."""

    start_price_fen: int
    step_fen: int
    step_multiple_only: bool = True
    max_raise_fen: int | None = None
    reserve_price_fen: int | None = None
    cap_price_fen: int | None = None
    free_period_s: int = 0
    countdown_s: int = 300
    hard_end_at: datetime | None = None
    min_bidders: int = 1
    priority_window_s: int = 600


@dataclass(frozen=True, slots=True)
class SequentialRules:
    """Prozorro-style rounds: sealed initial bids, then one turn per bidder per round."""

    start_price_fen: int
    step_fen: int
    step_multiple_only: bool = True
    max_raise_fen: int | None = None
    reserve_price_fen: int | None = None
    rounds: int = 3
    turn_s: int = 120
    pause_s: int = 120
    first_pause_s: int = 300
    raise_over: str = "leader"
    min_bidders: int = 1
    priority_window_s: int = 600


@dataclass(frozen=True, slots=True)
class SealedRules:
    """一次性报价 and its multi-round form: one hidden bid per bidder per round."""

    start_price_fen: int
    step_fen: int
    reserve_price_fen: int | None = None
    rounds: int = 1
    round_s: int = 600
    min_bidders: int = 1
    priority_window_s: int = 600


Rules = TimedRules | SequentialRules | SealedRules


@dataclass(frozen=True, slots=True)
class _Param:
    """How one parameter is checked: an int range, a bool, an ISO time or a choice."""

    kind: str
    required: bool = False
    low: int = 1
    high: int = MAX_FEN
    optional: bool = False
    choices: tuple[str, ...] = ()


_MONEY = _Param("int", required=True)
_OPTIONAL_MONEY = _Param("int", optional=True)
_COMMON = {
    "start_price_fen": _MONEY,
    "step_fen": _MONEY,
    "reserve_price_fen": _OPTIONAL_MONEY,
    "min_bidders": _Param("int", low=1, high=1000),
    "priority_window_s": _Param("int", low=1, high=MAX_SECONDS),
}
_ASCENDING = {"step_multiple_only": _Param("bool"), "max_raise_fen": _OPTIONAL_MONEY}
_PARAMS: dict[str, dict[str, _Param]] = {
    "timed": {
        **_COMMON,
        **_ASCENDING,
        "cap_price_fen": _OPTIONAL_MONEY,
        "free_period_s": _Param("int", low=0, high=MAX_SECONDS),
        "countdown_s": _Param("int", low=1, high=MAX_SECONDS),
        "hard_end_at": _Param("time", optional=True),
    },
    "sequential": {
        **_COMMON,
        **_ASCENDING,
        "rounds": _Param("int", low=1, high=MAX_ROUNDS),
        "turn_s": _Param("int", low=1, high=MAX_SECONDS),
        "pause_s": _Param("int", low=0, high=MAX_SECONDS),
        "first_pause_s": _Param("int", low=0, high=MAX_SECONDS),
        "raise_over": _Param("choice", choices=("leader", "own")),
    },
    "sealed": {
        **_COMMON,
        "rounds": _Param("int", low=1, high=MAX_ROUNDS),
        "round_s": _Param("int", low=1, high=MAX_SECONDS),
    },
}
_CLASSES: dict[str, type[TimedRules] | type[SequentialRules] | type[SealedRules]] = {
    "timed": TimedRules,
    "sequential": SequentialRules,
    "sealed": SealedRules,
}


def parse_rules(format: str, rules: Mapping[str, Any]) -> Rules:
    """Validate a format's parameters and fill the defaults; RuleViolation `invalid_rules`."""
    params = _PARAMS.get(format) if isinstance(format, str) else None
    if params is None:
        raise RuleViolation("invalid_rules", f"Unknown format {format!r}.", field="format")
    if not isinstance(rules, Mapping):
        raise RuleViolation("invalid_rules", "Rules must be an object of parameters.")
    for name in rules:
        if name not in params:
            raise RuleViolation("invalid_rules", f"Unknown parameter {name!r}.", field=name)
    for name, param in params.items():
        if param.required and name not in rules:
            raise RuleViolation("invalid_rules", f"{name} is required.", field=name)
    values = {name: _check(name, params[name], rules[name]) for name in params if name in rules}
    parsed = _CLASSES[format](**values)
    _check_together(parsed)
    return parsed


def rules_to_dict(rules: Rules) -> dict[str, Any]:
    """The full normalised parameters as JSON values (hidden reserve included)."""
    values = asdict(rules)
    hard_end = values.get("hard_end_at")
    if isinstance(hard_end, datetime):
        values["hard_end_at"] = format_time(hard_end)
    return values


def public_rules(format: str, rules: Mapping[str, Any] | Rules) -> dict[str, Any]:
    """What public viewers may see of the rules: everything but the reserve (保留价)."""
    if not isinstance(rules, TimedRules | SequentialRules | SealedRules):
        rules = parse_rules(format, rules)
    values = rules_to_dict(rules)
    del values["reserve_price_fen"]
    return values


def _check(name: str, param: _Param, value: Any) -> Any:
    if value is None and param.optional:
        return None
    if param.kind == "bool":
        if type(value) is not bool:
            raise RuleViolation("invalid_rules", f"{name} must be true or false.", field=name)
        return value
    if param.kind == "choice":
        if value not in param.choices:
            options = " or ".join(repr(choice) for choice in param.choices)
            raise RuleViolation("invalid_rules", f"{name} must be {options}.", field=name)
        return value
    if param.kind == "time":
        return _check_time(name, value)
    # bool is an int in Python, and 3.0 is not fen: both are refused.
    if type(value) is not int or not param.low <= value <= param.high:
        raise RuleViolation(
            "invalid_rules",
            f"{name} must be a whole number from {param.low} to {param.high}.",
            field=name,
        )
    return value


def _check_time(name: str, value: Any) -> datetime:
    try:
        if isinstance(value, datetime):
            return parse_time(value.isoformat())
        if isinstance(value, str):
            return parse_time(value)
    except ValueError:
        pass
    raise RuleViolation("invalid_rules", f"{name} must be an ISO 8601 time with Z.", field=name)


def _check_together(rules: Rules) -> None:
    if isinstance(rules, TimedRules) and rules.cap_price_fen is not None:
        if rules.cap_price_fen <= rules.start_price_fen:
            raise RuleViolation(
                "invalid_rules", "The cap price must be above the start price.", "cap_price_fen"
            )
    if not isinstance(rules, SealedRules) and rules.max_raise_fen is not None:
        if rules.max_raise_fen < rules.step_fen:
            raise RuleViolation(
                "invalid_rules", "The largest raise must be at least one step.", "max_raise_fen"
            )
