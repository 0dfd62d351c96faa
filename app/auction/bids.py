"""Checks on amounts shared by the formats: type, floor, step, largest raise and cap."""

from __future__ import annotations

from typing import Any

from app.auction.errors import RuleViolation
from app.auction.rules import MAX_FEN


def check_amount(amount: Any, what: str = "The bid") -> int:
    """An amount is a positive whole number of fen that JSON keeps exact."""
    # bool is an int subclass: True would otherwise bid 1 fen.
    if type(amount) is not int or not 0 < amount <= MAX_FEN:
        raise RuleViolation(
            "invalid_amount", f"{what} must be a whole number of fen from 1 to {MAX_FEN}."
        )
    return amount


def fen(amount: int) -> str:
    """An amount for messages: 123456 -> '1234.56 yuan'."""
    return f"{amount // 100}.{amount % 100:02d} yuan"


def check_raise(
    amount: int,
    base: int,
    *,
    step: int,
    may_equal_base: bool,
    multiple_only: bool,
    max_raise: int | None,
    cap: int | None = None,
) -> None:
    """Check `amount` against `base` (the price a raise is measured from).

    `may_equal_base` is true for a first bid at the start price. A bid exactly at the cap
    ends the lot, so it only has to beat the base: otherwise a cap that is not on the step
    grid, or less than a step away, could never be reached.
    """
    if cap is not None and amount > cap:
        raise RuleViolation("above_cap", f"The bid is above the cap price of {fen(cap)}.")
    at_cap = cap is not None and amount == cap and amount > base
    floor = base if may_equal_base else base + step
    if amount < floor and not at_cap:
        raise RuleViolation("bid_too_low", f"The bid must be at least {fen(floor)}.")
    raise_fen = amount - base
    if multiple_only and raise_fen % step and not at_cap:
        raise RuleViolation(
            "not_a_multiple_of_step",
            f"The raise over {fen(base)} must be a whole multiple of {fen(step)}.",
        )
    if max_raise is not None and raise_fen > max_raise:
        raise RuleViolation(
            "raise_too_large", f"A bid may raise the price by at most {fen(max_raise)}."
        )
