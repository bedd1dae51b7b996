"""Configuration from environment variables (and an optional `.env`), with safe defaults.

Every variable is documented in the README table; `python -m common.config` prints them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _load_dotenv(path: Path) -> None:
    """Set variables from a `KEY=VALUE` file without overriding the real environment."""
    if not path.is_file():
        return
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, value = line.split("=", 1)
        os.environ.setdefault(key.strip(), value.strip().strip('"').strip("'"))


def _int(name: str, default: int) -> int:
    try:
        return int(os.environ.get(name, default))
    except ValueError:
        return default


def _float(name: str, default: float) -> float:
    try:
        return float(os.environ.get(name, default))
    except ValueError:
        return default


def _bool(name: str, default: bool) -> bool:
    value = os.environ.get(name, "").strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    return default


def _ids(name: str) -> frozenset[int]:
    out = set()
    for part in os.environ.get(name, "").replace(";", ",").split(","):
        part = part.strip()
        if part.lstrip("-").isdigit():
            out.add(int(part))
    return frozenset(out)


@dataclass(frozen=True)
class Settings:
    """A snapshot of the configuration; build it with `settings()`."""

    data_dir: Path
    models_dir: Path
    host: str
    rasa_port: int
    actions_port: int
    rasa_token: str
    database_url: str
    embedding_model: Path
    telegram_token: str
    telegram_base_url: str
    telegram_mode: str
    webhook_url: str
    webhook_secret: str
    webhook_port: int
    staff_chat_id: int | None
    staff_user_ids: frozenset[int] = field(default_factory=frozenset)
    renotify_minutes: int = 30
    tts_voice: str = "sit/cmn-latn-pinyin"
    tts_rate: int = 150
    rate_limit_per_minute: int = 20
    max_message_chars: int = 1000
    log_level: str = "INFO"
    rasa_timeout: float = 30.0
    telegram_timeout: float = 20.0
    asr_enabled: bool = True
    asr_max_seconds: int = 60
    asr_threads: int = 2

    @property
    def rasa_url(self) -> str:
        return f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return f"http://{self.host}:{self.actions_port}/webhook"


def settings() -> Settings:
    """Read the configuration now (the environment wins over `.env`)."""
    _load_dotenv(ROOT / ".env")
    data_dir = Path(os.environ.get("XUNWU_DATA_DIR", ROOT / "var")).resolve()
    staff_chat = os.environ.get("STAFF_CHAT_ID", "").strip()
    return Settings(
        data_dir=data_dir,
        models_dir=Path(os.environ.get("XUNWU_MODELS_DIR", ROOT / "models")).resolve(),
        host=os.environ.get("XUNWU_HOST", "127.0.0.1"),
        rasa_port=_int("RASA_PORT", 5005),
        actions_port=_int("ACTIONS_PORT", 5055),
        rasa_token=os.environ.get("RASA_TOKEN", ""),
        database_url=os.environ.get("DATABASE_URL", f"sqlite:///{data_dir / 'tickets.db'}"),
        embedding_model=Path(
            os.environ.get("XUNWU_EMBEDDING_MODEL", ROOT / ".cache" / "models" / "multilingual-e5-small")
        ).resolve(),
        telegram_token=os.environ.get("TELEGRAM_BOT_TOKEN", ""),
        telegram_base_url=os.environ.get("TELEGRAM_BASE_URL", ""),
        telegram_mode=os.environ.get("TELEGRAM_MODE", "polling"),
        webhook_url=os.environ.get("TELEGRAM_WEBHOOK_URL", ""),
        webhook_secret=os.environ.get("TELEGRAM_WEBHOOK_SECRET", ""),
        webhook_port=_int("TELEGRAM_WEBHOOK_PORT", 8443),
        staff_chat_id=int(staff_chat) if staff_chat.lstrip("-").isdigit() else None,
        staff_user_ids=_ids("STAFF_USER_IDS"),
        renotify_minutes=_int("RENOTIFY_MINUTES", 30),
        tts_voice=os.environ.get("TTS_VOICE", "sit/cmn-latn-pinyin"),
        tts_rate=_int("TTS_RATE", 150),
        rate_limit_per_minute=_int("RATE_LIMIT_PER_MINUTE", 20),
        max_message_chars=_int("MAX_MESSAGE_CHARS", 1000),
        log_level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        rasa_timeout=_float("RASA_TIMEOUT", 30.0),
        telegram_timeout=_float("TELEGRAM_TIMEOUT", 20.0),
        asr_enabled=_bool("ASR_ENABLED", True),
        asr_max_seconds=max(5, min(600, _int("ASR_MAX_SECONDS", 60))),
        asr_threads=max(1, _int("ASR_THREADS", 2)),
    )


if __name__ == "__main__":
    for key, value in vars(settings()).items():
        shown = "***" if ("token" in key or "secret" in key) and value else value
        print(f"{key} = {shown}")
