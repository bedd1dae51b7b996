"""Every fixed sentence the assistant says, read from the `responses` of domain.yml.

Rasa uses them directly; the Telegram bridge, the terminal chat and the staff side use
`say(name, **values)` so that all user-facing text lives in one file.
"""

from __future__ import annotations

from functools import lru_cache

import yaml

from common.config import ROOT


@lru_cache(maxsize=1)
def responses() -> dict[str, str]:
    """Response name → its (first) text."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    return {name: variants[0]["text"] for name, variants in domain["responses"].items()}


def say(name: str, **values: object) -> str:
    """The text of response `name` with `{placeholders}` filled in."""
    text = responses()[name]
    return text.format(**values) if values else text
