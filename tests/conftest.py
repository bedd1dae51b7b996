"""Shared fixtures: a temporary data folder, and the real Rasa + action servers on free ports."""

from __future__ import annotations

import json
import os
import socket
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder (and SQLite database) for one test."""
    monkeypatch.setenv("XUNWU_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


@dataclass
class Services:
    """The running Rasa server and action server of a test session."""

    rasa_url: str
    data_dir: Path
    env: dict[str, str]

    def send(self, sender: str, text: str) -> list[dict]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        req = urllib.request.Request(
            f"{self.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(req, timeout=60) as resp:
            return json.loads(resp.read() or b"[]")

    def texts(self, sender: str, text: str) -> list[str]:
        return [m["text"] for m in self.send(sender, text) if m.get("text")]

    def tracker(self, sender: str) -> dict:
        url = f"{self.rasa_url}/conversations/{urllib.request.quote(sender, safe=':')}/tracker"
        with urllib.request.urlopen(url, timeout=30) as resp:
            return json.loads(resp.read())


def trained_model() -> Path:
    """The model the test command trained (or train it now, when run alone)."""
    from common.config import settings
    from launcher.training import ensure_model

    given = os.environ.get("XUNWU_TEST_MODEL")
    return Path(given) if given else ensure_model(settings())


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Starts the real action server and Rasa server (REST, --enable-api) on free ports."""
    from common.config import settings
    from launcher.services import Supervisor, plan

    data = tmp_path_factory.mktemp("services-data")
    model = trained_model()
    env = {
        "XUNWU_DATA_DIR": str(data),
        "RASA_PORT": str(free_port()),
        "ACTIONS_PORT": str(free_port()),
        "TELEGRAM_BOT_TOKEN": "",
        "RASA_TOKEN": "",
    }
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    cfg = settings()
    supervisor = Supervisor(cfg, plan(cfg, model), echo=False)
    try:
        supervisor.start(timeout=240)
        yield Services(cfg.rasa_url, data, env)
    finally:
        supervisor.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
