"""Ticket numbers: "XW-" and five symbols without look-alikes (no 0/O, 1/I/L)."""

from __future__ import annotations

import re
import secrets

ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
NUMBER_LEN = 5
# A number as the bridge writes it (in cards, reminders, notes).
NUMBER_RE = re.compile(r"XW-[0-9A-Z]{5}")
_TYPED_RE = re.compile(r"(?i)xw[\s\-]*[0-9a-z]{5}|(?<![0-9a-z])[0-9a-z]{5}(?![0-9a-z])")


def new_number() -> str:
    return "XW-" + "".join(secrets.choice(ALPHABET) for _ in range(NUMBER_LEN))


def normalise_number(text: str) -> str:
    """`xw 7k3p9` / `XW-7K3P9` / `7k3p9` → `XW-7K3P9` (empty when it is not one)."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    raw = raw.removeprefix("XW")
    if len(raw) == NUMBER_LEN and all(ch in ALPHABET for ch in raw):
        return "XW-" + raw
    return ""


def find_number(text: str) -> str:
    """The first ticket number written in `text` (e.g. "XW-7K3P9 怎么样了"), else "".

    Without the XW prefix, five symbols count only when one is a digit, so an English word
    like "check" is not taken for a number.
    """
    for m in _TYPED_RE.finditer(text):
        raw = m.group(0)
        if not raw.lower().startswith("xw") and not any(ch.isdigit() for ch in raw):
            continue
        number = normalise_number(raw)
        if number:
            return number
    return ""
