"""Logging to stdout and to a file in the data folder, with phone numbers and secrets masked."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

_PHONE = re.compile(r"(?<!\d)(1[3-9]\d)(\d{4})(\d{4})(?!\d)|(?<!\d)(0797)[- ]?(\d{3,4})(\d{4})(?!\d)")
_TOKEN = re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b")


def mask(text: str) -> str:
    """Hide the middle of phone numbers and any Telegram bot token in `text`."""

    def phone(m: re.Match[str]) -> str:
        if m.group(1):
            return f"{m.group(1)}****{m.group(3)}"
        return f"{m.group(4)}-****{m.group(6)}"

    return _TOKEN.sub("<token>", _PHONE.sub(phone, text))


class MaskingFormatter(logging.Formatter):
    """A formatter that masks phones and tokens in the final line."""

    def format(self, record: logging.LogRecord) -> str:
        return mask(super().format(record))


def setup(name: str, data_dir: Path, level: str = "INFO") -> None:
    """Log to stdout and to `<data_dir>/logs/<name>.log`, masked."""
    (data_dir / "logs").mkdir(parents=True, exist_ok=True)
    formatter = MaskingFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [
        logging.StreamHandler(sys.stdout),
        logging.FileHandler(data_dir / "logs" / f"{name}.log", encoding="utf-8"),
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
