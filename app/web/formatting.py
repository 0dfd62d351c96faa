"""How the pages show money and time: ¥ with separators, 大写金额, and Beijing time."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

BEIJING = timezone(timedelta(hours=8), "CST")
"""Asia/Shanghai: UTC+8 all year (no daylight saving since 1991), so no tz database needed."""

_DIGITS = "零壹贰叁肆伍陆柒捌玖"
_PLACES = ("", "拾", "佰", "仟")
_SECTIONS = ("", "万", "亿", "万亿")


def format_yuan(fen: int | None) -> str:
    """``30500000`` -> ``¥305,000``; cents are shown only when there are any (``¥1.50``)."""
    if fen is None:
        return "—"
    sign = "-" if fen < 0 else ""
    yuan, cents = divmod(abs(fen), 100)
    text = f"{sign}¥{yuan:,}"
    return f"{text}.{cents:02d}" if cents else text


def _four_digits(group: int) -> str:
    """One group of up to four digits (0 < group < 10000) in capital numerals."""
    text, zero_pending = "", False
    for place in range(3, -1, -1):
        digit = group // 10**place % 10
        if digit == 0:
            zero_pending = bool(text)
            continue
        if zero_pending:
            text += "零"
            zero_pending = False
        text += _DIGITS[digit] + _PLACES[place]
    return text


def capital_amount(fen: int) -> str:
    """The amount in Chinese capital numerals as contracts write it: ``叁拾万伍仟元整``.

    Follows the 支付结算办法 rules: 整 after 元 or 角, none after 分; one 零 for a gap.
    """
    if fen < 0:
        raise ValueError("a negative amount has no capital form")
    if fen == 0:
        return "零元整"
    yuan, cents = divmod(fen, 100)
    jiao, fen_digit = divmod(cents, 10)
    text = _yuan_part(yuan)
    if yuan:
        text += "元"
    if jiao:
        text += _DIGITS[jiao] + "角"
    elif fen_digit and yuan:
        text += "零"
    if fen_digit:
        return text + _DIGITS[fen_digit] + "分"
    return text + "整"


def _yuan_part(yuan: int) -> str:
    groups: list[int] = []
    while yuan:
        yuan, group = divmod(yuan, 10_000)
        groups.append(group)
    if len(groups) > len(_SECTIONS):
        raise ValueError("the amount is too large for capital numerals")
    text, gap = "", False
    for index in range(len(groups) - 1, -1, -1):
        group = groups[index]
        if group == 0:
            gap = bool(text)
            continue
        if text and (gap or group < 1000):
            text += "零"
        text += _four_digits(group) + _SECTIONS[index]
        gap = False
    return text


def beijing_time(moment: datetime | str | None, with_seconds: bool = True) -> str:
    """``2026-11-25 23:49:11`` in Beijing time; an em dash for none."""
    if moment is None:
        return "—"
    if isinstance(moment, str):
        moment = parse_utc(moment)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    shown = moment.astimezone(BEIJING)
    return shown.strftime("%Y-%m-%d %H:%M:%S" if with_seconds else "%Y-%m-%d %H:%M")


def beijing_short(moment: datetime | str | None) -> str:
    """``11-25 23:49:11``: the ladder's time, short enough for a phone's column."""
    return beijing_time(moment)[5:] if moment is not None else "—"


def parse_utc(text: str) -> datetime:
    """An ISO time with ``Z`` as an aware datetime."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
