"""Every fixed sentence the assistant says, behind one function: `say(name, **values)`.

Two files hold them: domain.yml's `responses` (what Rasa itself says; a training input) and
texts.yml (what the Telegram bridge, the staff side, the terminal chat and the staff CLI
say themselves; not a training input, so changing a wording retrains nothing). A name is
in exactly one of them (tests/common/test_texts.py).
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from common import yamlfile
from common.config import ROOT

DOMAIN = ROOT / "domain.yml"
TEXTS = ROOT / "texts.yml"


def _read(path: Path) -> dict:
    return yamlfile.read(path) or {}


@lru_cache(maxsize=1)
def rasa_responses() -> dict[str, str]:
    """domain.yml: response name → its (first) text."""
    return {name: variants[0]["text"] for name, variants in _read(DOMAIN)["responses"].items()}


@lru_cache(maxsize=1)
def own_texts() -> dict[str, str]:
    """texts.yml: name → text."""
    return {str(name): str(text) for name, text in _read(TEXTS).items()}


@lru_cache(maxsize=1)
def responses() -> dict[str, str]:
    """Every name → its text (both files)."""
    return {**rasa_responses(), **own_texts()}


def say(name: str, **values: object) -> str:
    """The text `name` with its `{placeholders}` filled in."""
    text = responses()[name]
    return text.format(**values) if values else text
