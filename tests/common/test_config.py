"""The settings: every kind of bad value stops a process at start, naming the variable."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from common.config import ROOT, ConfigError, Settings, markdown_table, settings


def refused(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    """The error message for `name=value` (which must be refused)."""
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        settings()
    message = str(caught.value)
    assert f"{name}=" in message
    return message


@pytest.mark.parametrize(
    ("name", "value", "why"),
    [
        ("RASA_PORT", "abc", "not a valid integer"),  # int
        ("ACTIONS_PORT", "70000", "less than or equal to 65535"),  # int with a range
        ("RENOTIFY_MINUTES", "-5", "greater than or equal to 0"),
        ("RASA_TIMEOUT", "soon", "not a valid float"),  # float
        ("TELEGRAM_TIMEOUT", "0", "greater than 0"),
        ("STAFF_CHAT_ID", "staff-group", "not a valid integer"),  # optional int
        ("STAFF_USER_IDS", "7001,li", "not a valid integer"),  # list of ints
        ("TELEGRAM_MODE", "carrier-pigeon", "polling"),  # one of a few words
        ("LOG_LEVEL", "LOUD", "must be one of"),
        ("TELEGRAM_WEBHOOK_URL", "bot.example.org/hook", "https://"),  # URL
        ("TELEGRAM_BASE_URL", "localhost:8081", "https://"),
        ("TELEGRAM_WEBHOOK_SECRET", "has spaces!", "letters, digits"),  # token pattern
        ("DATABASE_URL", "tickets.db", "not a database URL"),  # SQLAlchemy URL
        ("TTS_RATE", "1000", "less than or equal to 450"),
        ("TRACKER_STORE_URL", "mysql://x@h/db", "sqlite:/// or postgresql://"),
        ("TRACKER_STORE_URL", "tracker.db", "not a database URL"),
        ("LOCK_STORE_URL", "localhost:6379", "redis://"),
        ("LOCK_STORE_URL", "redis://h:port/1", "port is not a number"),
        ("TRACKER_CACHE", "sometimes", "trusted"),
        ("RASA_URL", "haproxy:5005", "http://"),
        ("BRIDGE_TOKEN", "with space", "letters, digits"),
        ("DB_POOL_SIZE", "0", "greater than or equal to 1"),
    ],
)
def test_a_bad_value_is_refused_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, why: str
) -> None:
    assert why in refused(monkeypatch, name, value)


def test_secrets_are_never_repeated_in_the_message(monkeypatch: pytest.MonkeyPatch) -> None:
    message = refused(monkeypatch, "TELEGRAM_WEBHOOK_SECRET", "my secret!")
    assert "my secret" not in message and "TELEGRAM_WEBHOOK_SECRET=***" in message


def test_good_values_and_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XUNWU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("STAFF_USER_IDS", " 7001, 7002;7003 ")
    monkeypatch.setenv("STAFF_CHAT_ID", "-1001234567890")
    monkeypatch.setenv("LOG_LEVEL", "debug")
    monkeypatch.setenv("RASA_PORT", "")  # empty: the default
    monkeypatch.delenv("DATABASE_URL", raising=False)
    cfg = settings()
    assert cfg.staff_user_ids == frozenset({7001, 7002, 7003}) and cfg.staff_chat_id == -1001234567890
    assert (cfg.log_level, cfg.rasa_port, cfg.rasa_url) == ("DEBUG", 5005, "http://127.0.0.1:5005")
    assert cfg.database_url == f"sqlite:///{tmp_path / 'tickets.db'}"
    assert settings() is cfg  # built once ...
    monkeypatch.setenv("RASA_PORT", "5006")
    assert settings() is not cfg and settings().rasa_port == 5006  # ... again when a variable changed
    with pytest.raises(TypeError):
        cfg.rasa_port = 1  # read-only


def test_dot_env_is_read_and_the_environment_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    env_file = tmp_path / ".env"
    env_file.write_text("RASA_PORT=6000\nACTIONS_PORT=6001\n# a comment\nLOG_LEVEL='warning'\n", encoding="utf-8")
    monkeypatch.delenv("RASA_PORT", raising=False)
    monkeypatch.delenv("LOG_LEVEL", raising=False)
    monkeypatch.setenv("ACTIONS_PORT", "7001")
    cfg = Settings(_env_file=env_file)
    assert (cfg.rasa_port, cfg.actions_port, cfg.log_level) == (6000, 7001, "WARNING")
    env_file.write_text("RASA_PORT=six\n", encoding="utf-8")
    with pytest.raises(ValueError, match="rasa_port"):
        Settings(_env_file=env_file)


def test_the_readme_table_is_the_settings() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert markdown_table() in readme
    documented = re.findall(r"^\| `([A-Z_]+)` \|", readme, flags=re.M)
    assert len(documented) == len(Settings.__fields__)


@pytest.mark.parametrize(
    "command",
    [
        ["-m", "launcher", "train"],  # before any training starts
        ["-m", "bot"],
        ["-m", "tickets.cli", "open"],
        ["-m", "rasa_addons.server", "run"],
        ["-c", "import actions"],  # what `rasa run actions` imports first
    ],
)
def test_every_entry_point_stops_at_start(tmp_path: Path, command: list[str]) -> None:
    env = {**os.environ, "XUNWU_DATA_DIR": str(tmp_path), "RASA_PORT": "abc", "TELEGRAM_BOT_TOKEN": "x"}
    proc = subprocess.run(
        [sys.executable, *command], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "RASA_PORT='abc': value is not a valid integer" in proc.stderr
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("TRACKER_STORE_URL", "postgresql://xunwu:secret-pw@127.0.0.1:1/tracker"),
        ("LOCK_STORE_URL", "redis://:secret-pw@127.0.0.1:1/1"),
    ],
)
def test_an_unreachable_store_stops_rasa_with_one_line_naming_it(tmp_path: Path, variable: str, value: str) -> None:
    env = {**os.environ, variable: value, "DB_RETRY_SECONDS": "1", "XUNWU_DATA_DIR": str(tmp_path)}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"  # TensorFlow's own start-up lines are not ours
    done = subprocess.run(
        [sys.executable, "-m", "rasa_addons.server", "run"], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert done.returncode == 2
    ours = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(ours) == 1 and ours[0].startswith(f"error: {variable}=") and "cannot be reached" in ours[0]
    assert done.stderr.strip().splitlines()[-1] == ours[0]
    assert "secret-pw" not in done.stderr and "Traceback" not in done.stderr
