"""Crash points for the reliability suite (bench/reliability.py, tests/reliability/).

`point(name)` does nothing unless XUNWU_FAULT_POINTS names it (comma-separated); then the
process kills itself with SIGKILL right there — no cleanup, no flush — as a power cut or
`kill -9` at exactly that moment would. `name=N` fires on the N-th pass only (counted per
process). Production never sets the variable; it is read once per process.
"""

from __future__ import annotations

import os
import signal
from functools import lru_cache

VARIABLE = "XUNWU_FAULT_POINTS"
_passes: dict[str, int] = {}


@lru_cache(maxsize=1)
def _armed() -> dict[str, int]:
    armed: dict[str, int] = {}
    for item in os.environ.get(VARIABLE, "").split(","):
        name, _, nth = item.strip().partition("=")
        if name:
            armed[name] = int(nth) if nth.isdigit() else 1
    return armed


def point(name: str) -> None:
    """SIGKILL this process here, if the fault point `name` is armed (and this is its pass)."""
    nth = _armed().get(name)
    if nth is None:
        return
    _passes[name] = _passes.get(name, 0) + 1
    if _passes[name] == nth:
        os.kill(os.getpid(), signal.SIGKILL)
