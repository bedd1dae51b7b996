"""Numbered choices: what residents type for "1", and how a list of options is written."""

from __future__ import annotations

import re
import unicodedata

_CN_DIGITS = {
    "零": 0,
    "一": 1,
    "二": 2,
    "两": 2,
    "三": 3,
    "四": 4,
    "五": 5,
    "六": 6,
    "七": 7,
    "八": 8,
    "九": 9,
    "十": 10,
}


def fold(text: str) -> str:
    """Full-width to half-width, trimmed (for digits typed on Chinese keyboards)."""
    return unicodedata.normalize("NFKC", text or "").strip()


def digit_choice(text: str) -> int | None:
    """`3`, `３`, `选3`, `第三个`, `3号` → 3; None when the text is not a bare choice."""
    t = fold(text)
    m = re.fullmatch(r"(?:我?选|第)?\s*(\d{1,2})\s*(?:个|号|项)?", t)
    if m:
        return int(m.group(1))
    m = re.fullmatch(r"(?:我?选)?第?([一二两三四五六七八九十])(?:个|号|项)?", t)
    if m:
        return _CN_DIGITS[m.group(1)]
    return None


def numbered(options: tuple[str, ...] | list[str]) -> str:
    """`1 长宁镇` lines for a numbered choice."""
    return "\n".join(f"{i} {o}" for i, o in enumerate(options, 1))
