"""The internal secrets: Rasa's HTTP API token, the bridge channel's and the action server's.

Each comes from its variable (RASA_TOKEN, BRIDGE_TOKEN, ACTIONS_TOKEN) when set — the
production way, e.g. a Kubernetes secret — or else from a file in `<data>/secrets/`, which
`make run` / `make serve` create on first start (random, folder 0700, files 0600), so the
default configuration is protected too and only the owner of the data folder can read
them. A secret is never put on a command line (`ps` shows those to every local user): the
processes read it from their environment or from the file.
"""

from __future__ import annotations

import contextlib
import os
import secrets as random_secrets
from pathlib import Path

from common.config import Settings

NAMES = ("rasa_token", "bridge_token", "actions_token")
FOLDER = "secrets"


def secret_path(cfg: Settings, name: str) -> Path:
    return cfg.data_dir / FOLDER / name


def read_secret(cfg: Settings, name: str) -> str:
    """The secret `name` (one of NAMES): its variable, else its file, else ""."""
    given = getattr(cfg, name)
    if given:
        return given
    with contextlib.suppress(OSError):
        return secret_path(cfg, name).read_text(encoding="ascii").strip()
    return ""


def ensure_secrets(cfg: Settings) -> None:
    """Create the file of every secret whose variable is empty and that has none yet."""
    folder = cfg.data_dir / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    os.chmod(folder, 0o700)
    for name in NAMES:
        if getattr(cfg, name):
            continue
        try:
            fd = os.open(secret_path(cfg, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue  # made earlier (or by a process starting at the same moment)
        with os.fdopen(fd, "w", encoding="ascii") as out:
            out.write(random_secrets.token_urlsafe(32) + "\n")
