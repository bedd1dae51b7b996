"""Crash points for the reliability suite (bench/reliability.py, tests/test_reliability.py).

`point(name)` does nothing unless XUNWU_FAULT_DIR names a folder holding a file called
`name`; then the process removes that file (so the point fires once per arming, also
across the restart that follows) and kills itself with SIGKILL right there — no cleanup,
no flush — as a power cut or `kill -9` at exactly that moment would. Production never sets
the variable. Points: `after_ticket_commit` (action server: the ticket is stored, Rasa not
yet answered), `before_tracker_save` (Rasa: the action ran, the turn is not yet saved).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

VARIABLE = "XUNWU_FAULT_DIR"


def arm(folder: Path, name: str) -> None:
    """Make the next pass through point `name` (in a process with XUNWU_FAULT_DIR=folder) crash."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).touch()


def point(name: str) -> None:
    """SIGKILL this process here, if the fault point `name` is armed."""
    folder = os.environ.get(VARIABLE)
    if not folder:
        return
    try:
        os.unlink(os.path.join(folder, name))
    except OSError:
        return  # not armed (or another process took it)
    os.kill(os.getpid(), signal.SIGKILL)
