"""Logging to stdout and to a file in the data folder, with phone numbers and secrets masked.

Files rotate by size (LOG_MAX_BYTES, LOG_BACKUPS). `mask()` is also what the launcher runs
every line of its children's output through, so what Rasa, rasa_sdk or a library prints
on its own (tracebacks, the text of a message whose client went away) is masked as well.
A phone counts however it is typed: 13812345678, 138 1234 5678, 138-1234-5678, +86 138…,
full-width digits, 0797-1234567, (0797) 123 4567.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import re
import sys
from pathlib import Path

# A digit, optionally followed by one separator (space, hyphen, dot, full-width space or hyphen).
_D = r"(?:[0-9０-９][ \-.\u3000－]?)"
_MOBILE = re.compile(
    rf"(?<![0-9０-９])(?:(?:\+|＋)?(?:86|８６)[ \-]?)?[1１][3-9３-９][ \-.\u3000－]?{_D}{{8}}[0-9０-９](?![0-9０-９])"
)
_LANDLINE = re.compile(
    rf"(?<![0-9０-９])[(（]?[0０][7７][9９][7７][)）]?[ \-－\u3000]?{_D}{{6,7}}[0-9０-９](?![0-9０-９])"
)
_TOKEN = re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b")
_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_FULL = str.maketrans("０１２３４５６７８９", "0123456789")


def _digits(text: str) -> str:
    return "".join(ch for ch in text.translate(_FULL) if ch.isdigit())


def _mobile(m: re.Match[str]) -> str:
    digits = _digits(m.group(0))[-11:]
    return f"{digits[:3]}****{digits[-4:]}"


def _landline(m: re.Match[str]) -> str:
    digits = _digits(m.group(0))
    return f"0797-****{digits[-4:]}"


def mask(text: str) -> str:
    """Hide the middle of phone numbers, Telegram bot tokens and passwords in URLs."""
    text = _MOBILE.sub(_mobile, text)
    text = _LANDLINE.sub(_landline, text)
    text = _URL_PASSWORD.sub(r"\1***@", text)
    return _TOKEN.sub("<token>", text)


class MaskingFormatter(logging.Formatter):
    """A formatter that masks phones and tokens in the final line."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def private_files() -> None:
    """Files this process creates are readable by its user only (0600, folders 0700)."""
    os.umask(0o077)


def rotating_handler(path: Path, max_bytes: int | None = None, backups: int | None = None) -> logging.Handler:
    """A file handler that rotates at LOG_MAX_BYTES, keeping LOG_BACKUPS old files."""
    if max_bytes is None or backups is None:
        from common.config import settings

        cfg = settings()
        max_bytes, backups = cfg.log_max_bytes, cfg.log_backups
    return logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=backups, encoding="utf-8")


def setup(name: str, data_dir: Path, level: str = "INFO") -> None:
    """Log to stdout and to `<data_dir>/logs/<name>.log` (rotated), masked; files private."""
    private_files()
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    formatter = MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stdout),
        rotating_handler(data_dir / "logs" / f"{name}.log"),
    ]
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        handler.setFormatter(formatter)
        root.addHandler(handler)
    root.setLevel(level)
    for noisy in ("httpx", "httpcore", "apscheduler", "telegram.ext.Updater"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
