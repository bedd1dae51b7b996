"""Configuration: environment variables (or a `.env` file in the project root), checked at start.

One pydantic `BaseSettings` object; a bad value of any variable raises `ConfigError` naming
the variable, and every entry point turns that into a message and exit status 2
(`settings_or_exit()`). `settings()` builds the object once and builds it again only when
one of the variables in the environment changed (tests and benchmarks change them).
The README's table is `python -m common.config --markdown` (a test keeps the two equal);
`python -m common.config` prints the effective configuration, secrets hidden.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseSettings, Field, ValidationError, validator
from pydantic.fields import ModelField

ROOT = Path(__file__).resolve().parent.parent
ENV_FILE = ROOT / ".env"
_SECRET_RE = re.compile(r"[A-Za-z0-9_-]{1,256}")
_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
_HIDDEN = ("telegram_token", "webhook_secret", "rasa_token", "bridge_token", "actions_token")


_URL_PASSWORD = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")
_URLS = ("database_url", "tracker_store_url", "lock_store_url")


def hide_password(url: str) -> str:
    """`postgresql://user:secret@host/db` → `postgresql://user:***@host/db`."""
    return _URL_PASSWORD.sub(r"\1***@", url)


class ConfigError(ValueError):
    """One or more variables have bad values; the message names each one."""


def _var(default: Any, env: str, meaning: str, shown: str | None = None, **checks: Any) -> Any:
    """A setting read from `env`; `shown` is its default as the README writes it."""
    return Field(default, env=env, description=meaning, shown=shown, **checks)


def _in_data_dir(values: dict[str, Any], file: str) -> str:
    """The default database URL: SQLite file `file` in the data folder (checked before it)."""
    data_dir = values.get("data_dir") or ROOT / "var"
    return f"sqlite:///{data_dir / file}"


def _database(value: str, file: str) -> Any:
    """`value` read as an SQLAlchemy URL; a ValueError whose example names `file` if it is none."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(value)
    except ArgumentError:
        raise ValueError(f"not a database URL (e.g. sqlite:///var/{file}, postgresql://user@host/db)") from None


class Settings(BaseSettings):
    """The configuration of every process (read-only)."""

    data_dir: Path = _var(ROOT / "var", "XUNWU_DATA_DIR", "SQLite databases, logs, speech cache, bot state", "`var/`")
    models_dir: Path = _var(
        ROOT / "models", "XUNWU_MODELS_DIR", "trained Rasa models (named by the hash of their inputs)", "`models/`"
    )
    embedding_model: Path = _var(
        ROOT / ".cache" / "models" / "multilingual-e5-small",
        "XUNWU_EMBEDDING_MODEL",
        "the sentence-transformers model folder",
        "`.cache/models/multilingual-e5-small`",
    )
    embedding_threads: int = _var(
        1,
        "EMBEDDING_THREADS",
        "CPU threads of one embedding pass (1: least CPU per message; 2 is ~15% faster for one "
        "resident but costs ~70% more CPU, fewer messages per second under load)",
        ge=1,
        le=64,
    )
    host: str = _var("127.0.0.1", "XUNWU_HOST", "interface every server binds to", min_length=1)
    rasa_port: int = _var(5005, "RASA_PORT", "Rasa server (REST channel, HTTP API)", ge=1, le=65535)
    actions_port: int = _var(5055, "ACTIONS_PORT", "action server", ge=1, le=65535)
    rasa_token: str = _var(
        "",
        "RASA_TOKEN",
        "Rasa's HTTP API (trackers, models) is on only with this token (`?token=…`); `make run`/`make serve` "
        "generate one into `<data>/secrets/` when it is empty",
        "(generated)",
    )
    bridge_token: str = _var(
        "",
        "BRIDGE_TOKEN",
        "secret the bridge and the terminal chat send to Rasa's `bridge` channel (the only one that may speak "
        "for `tg:` senders)",
        "(generated)",
    )
    actions_token: str = _var(
        "", "ACTIONS_TOKEN", "secret Rasa sends to the action server (it refuses calls without it)", "(generated)"
    )
    rasa_url_override: str = _var(
        "",
        "RASA_URL",
        "where clients reach Rasa (a load balancer in front of replicas)",
        "`http://<XUNWU_HOST>:<RASA_PORT>`",
    )
    actions_url_override: str = _var(
        "",
        "ACTION_SERVER_URL",
        "where Rasa reaches the action server's webhook (a load balancer in front of several)",
        "`http://<XUNWU_HOST>:<ACTIONS_PORT>/webhook`",
    )
    rasa_timeout: float = _var(30.0, "RASA_TIMEOUT", "seconds the bridge waits for Rasa", gt=0)
    database_url: str = _var(
        "",
        "DATABASE_URL",
        "ticket database (any SQLAlchemy URL, e.g. `postgresql://user:pw@host/db`)",
        "`sqlite:///<data>/tickets.db`",
    )
    tracker_store_url: str = _var(
        "",
        "TRACKER_STORE_URL",
        "Rasa's conversations (`sqlite:///…` or `postgresql://user:pw@host/db`)",
        "`sqlite:///<data>/tracker.db`",
    )
    lock_store_url: str = _var(
        "",
        "LOCK_STORE_URL",
        "Rasa's conversation locks: `redis://host:port/db` (needed with several Rasa replicas)",
        "(in memory)",
    )
    tracker_cache: Literal["auto", "trusted", "validated", "off"] = _var(
        "auto",
        "TRACKER_CACHE",
        "recent trackers kept in Rasa's memory: `trusted` (one Rasa owns the conversations), `validated` "
        "(checked against the database on every read), `off`; `auto`: trusted on SQLite, validated otherwise",
    )
    db_pool_size: int = _var(
        5,
        "DB_POOL_SIZE",
        "connections each process keeps to a PostgreSQL server (as many again at peaks)",
        ge=1,
        le=100,
    )
    db_retry_seconds: float = _var(
        20.0,
        "DB_RETRY_SECONDS",
        "how long a ticket write waits for an unreachable database before the resident is told it failed",
        ge=0,
        le=300,
    )
    telegram_token: str = _var("", "TELEGRAM_BOT_TOKEN", "starts the Telegram bridge when set")
    telegram_mode: Literal["polling", "webhook"] = _var("polling", "TELEGRAM_MODE", "`polling` or `webhook`")
    webhook_url: str = _var("", "TELEGRAM_WEBHOOK_URL", "public HTTPS URL for webhook mode")
    webhook_secret: str = _var(
        "",
        "TELEGRAM_WEBHOOK_SECRET",
        "secret token Telegram sends (letters, digits, _ and -); required in webhook mode",
    )
    webhook_port: int = _var(8443, "TELEGRAM_WEBHOOK_PORT", "local port of the webhook server", ge=1, le=65535)
    telegram_base_url: str = _var(
        "",
        "TELEGRAM_BASE_URL",
        "root of another Bot API server, e.g. `http://127.0.0.1:8081`; the bridge appends `/bot` and "
        "`/file/bot` (tests use a local fake)",
    )
    telegram_timeout: float = _var(20.0, "TELEGRAM_TIMEOUT", "seconds for Bot API calls", gt=0)
    staff_chat_id: int | None = _var(None, "STAFF_CHAT_ID", "the staff group that receives ticket cards")
    staff_user_ids: frozenset[int] = _var(
        frozenset(),
        "STAFF_USER_IDS",
        "comma-separated Telegram user IDs allowed to act on tickets (empty: nobody; a warning is logged)",
    )
    renotify_minutes: int = _var(
        30, "RENOTIFY_MINUTES", "remind staff of a ticket nobody claimed after this long (0: never)", ge=0
    )
    urgent_renotify_minutes: int = _var(
        5,
        "URGENT_RENOTIFY_MINUTES",
        "remind staff of an urgent ticket (a person in danger) nobody claimed after this long",
        ge=1,
    )
    tts_voice: str = _var("sit/cmn-latn-pinyin", "TTS_VOICE", "espeak-ng voice", min_length=1)
    tts_rate: int = _var(150, "TTS_RATE", "default speech rate (words per minute, 80–450)", ge=80, le=450)
    outbox_alert_minutes: int = _var(
        10,
        "OUTBOX_ALERT_MINUTES",
        "a message still unsent after this long is reported to the staff group (and logged); it is still retried",
        ge=1,
    )
    log_max_bytes: int = _var(
        10_000_000, "LOG_MAX_BYTES", "a log file is rotated at this size", ge=100_000, shown="`10000000`"
    )
    log_backups: int = _var(5, "LOG_BACKUPS", "rotated log files kept per process", ge=1, le=100)
    rate_limit_per_minute: int = _var(
        20, "RATE_LIMIT_PER_MINUTE", "messages per person per minute the bridge forwards", ge=1
    )
    max_message_chars: int = _var(1000, "MAX_MESSAGE_CHARS", "longer messages are cut (and the person told)", ge=1)
    log_level: str = _var("INFO", "LOG_LEVEL", "logging level (DEBUG, INFO, WARNING, ERROR)")

    asr_enabled: bool = _var(
        True, "ASR_ENABLED", "`0` turns speech recognition of voice messages off (they go to staff as audio)", "`1`"
    )
    asr_max_seconds: int = _var(
        60, "ASR_MAX_SECONDS", "longer voice messages are refused before decoding (5–600)", ge=5, le=600
    )
    asr_threads: int = _var(2, "ASR_THREADS", "CPU threads of the recogniser", ge=1, le=64)

    class Config:
        env_file = ENV_FILE
        env_file_encoding = "utf-8"
        allow_mutation = False
        extra = "ignore"

        @classmethod
        def parse_env_var(cls, field_name: str, raw_val: str) -> Any:
            """Lists are comma-separated (`1,2,3`), not JSON."""
            if field_name == "staff_user_ids":
                return [part.strip() for part in raw_val.replace(";", ",").split(",") if part.strip()]
            return raw_val

    @validator("*", pre=True)
    def _empty_is_default(cls, value: Any, field: ModelField) -> Any:
        """An empty variable (`FOO=`) means: use the default."""
        if isinstance(value, str) and not value.strip():
            return field.default
        return value.strip() if isinstance(value, str) else value

    @validator("data_dir", "models_dir", "embedding_model")
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @validator("database_url", always=True)
    def _database_url(cls, value: str, values: dict[str, Any]) -> str:
        if not value:
            return _in_data_dir(values, "tickets.db")
        _database(value, "tickets.db")
        return value

    @validator("tracker_store_url", always=True)
    def _tracker_store_url(cls, value: str, values: dict[str, Any]) -> str:
        if not value:
            return _in_data_dir(values, "tracker.db")
        if _database(value, "tracker.db").get_backend_name() not in ("sqlite", "postgresql"):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return value

    @validator("lock_store_url")
    def _lock_store_url(cls, value: str) -> str:
        if not value:
            return value
        from urllib.parse import urlsplit

        parts = urlsplit(value)
        if parts.scheme not in ("redis", "rediss") or not parts.hostname:
            raise ValueError("must be a redis://host:port/db URL (or empty: locks in memory)")
        try:
            parts.port  # noqa: B018 - raises on a bad port
        except ValueError:
            raise ValueError("the port is not a number") from None
        if parts.path.strip("/") and not parts.path.strip("/").isdigit():
            raise ValueError("the database after the last / must be a number")
        return value

    @validator("rasa_url_override", "actions_url_override")
    def _service_url(cls, value: str) -> str:
        if value and not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")

    @validator("bridge_token", "actions_token", "rasa_token", "webhook_secret")
    def _token(cls, value: str) -> str:
        if value and not _SECRET_RE.fullmatch(value):
            raise ValueError("1-256 characters: letters, digits, _ and -")
        return value

    @validator("webhook_url", "telegram_base_url")
    def _http_url(cls, value: str) -> str:
        if value and not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http://)")
        return value

    @validator("log_level")
    def _log_level(cls, value: str) -> str:
        level = value.upper()
        if level not in _LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(_LOG_LEVELS)}")
        return level

    @property
    def rasa_url(self) -> str:
        return self.rasa_url_override or f"http://{self.host}:{self.rasa_port}"

    @property
    def actions_url(self) -> str:
        return self.actions_url_override or f"http://{self.host}:{self.actions_port}/webhook"

    @property
    def tracker_cache_mode(self) -> str:
        """`trusted`, `validated` or `off` (what `auto` means for this tracker store)."""
        if self.tracker_cache != "auto":
            return self.tracker_cache
        return "trusted" if self.tracker_store_url.startswith("sqlite") else "validated"

    def shown(self) -> dict[str, Any]:
        """Every setting by variable name, secrets hidden (for printing)."""
        out = {}
        for name, field in self.__fields__.items():
            value = getattr(self, name)
            if name in _URLS and isinstance(value, str):
                value = hide_password(value)
            out[env_name(field)] = "***" if name in _HIDDEN and value else value
        return out


def env_name(field: ModelField) -> str:
    return next(iter(field.field_info.extra["env_names"])).upper()


ENV_NAMES = tuple(env_name(f) for f in Settings.__fields__.values())


def _describe(error: ValidationError) -> str:
    """`RASA_PORT='abc': value is not a valid integer` lines, one per bad variable."""
    lines = []
    for item in error.errors():
        field = Settings.__fields__[str(item["loc"][0])]
        name = env_name(field)
        raw = os.environ.get(name)
        if raw is None:
            from dotenv import dotenv_values

            raw = dotenv_values(ENV_FILE).get(name) if ENV_FILE.is_file() else None
        shown = "***" if field.name in _HIDDEN else repr(hide_password(raw) if isinstance(raw, str) else raw)
        lines.append(f"{name}={shown}: {item['msg']}")
    return "bad configuration (environment or .env):\n  " + "\n  ".join(lines)


_cache: tuple[tuple[str | None, ...], Settings] | None = None


def settings() -> Settings:
    """The configuration, built once (again only when one of its variables changed)."""
    global _cache
    key = tuple(os.environ.get(name) for name in ENV_NAMES)
    if _cache is None or _cache[0] != key:
        try:
            _cache = (key, Settings())
        except ValidationError as exc:
            raise ConfigError(_describe(exc)) from None
    return _cache[1]


def settings_or_exit() -> Settings:
    """`settings()` for an entry point: a bad value ends the process (status 2) with the message."""
    try:
        return settings()
    except ConfigError as exc:
        logging.getLogger(__name__).debug("configuration refused", exc_info=True)
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None


def markdown_table() -> str:
    """The README's configuration table, from the settings themselves."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for field in Settings.__fields__.values():
        extra = field.field_info.extra
        default = field.default
        if extra.get("shown"):
            shown = extra["shown"]
        elif default in (None, "", frozenset()):
            shown = "(empty)"
        else:
            shown = f"`{default}`"
        rows.append(f"| `{env_name(field)}` | {shown} | {field.field_info.description} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--markdown"]:
        print(markdown_table())
        return 0
    for name, value in settings_or_exit().shown().items():
        print(f"{name} = {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
