"""Shared fixtures: a temporary data folder, and the real Rasa + action servers on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from common.rasa_client import RasaClient, parse_replies
from launcher.infra import free_port

ROOT = Path(__file__).resolve().parent.parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests that need the trained model and the real Rasa servers are marked `rasa`
    (`make test-fast` runs the others: `pytest -m "not rasa"`)."""
    for item in items:
        if "services" in getattr(item, "fixturenames", ()) or item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.rasa)


# The PostgreSQL lane of `make test` (scripts/test.sh) sets this to a server's admin URL:
# every test that wants a ticket database then gets a fresh PostgreSQL database instead
# of a SQLite file.
TEST_POSTGRES = "XUNWU_TEST_POSTGRES"


def fresh_database_url(tmp_path: Path) -> str:
    """A new, empty ticket database for one test: a SQLite file, or (PostgreSQL lane) a new database."""
    admin = os.environ.get(TEST_POSTGRES)
    if not admin:
        return f"sqlite:///{tmp_path / 'tickets.db'}"
    import uuid

    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"t_{uuid.uuid4().hex[:16]}"
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin).set(database=name).render_as_string(hide_password=False)


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh data folder and ticket database (SQLite, or PostgreSQL in its lane) for one test."""
    monkeypatch.setenv("XUNWU_DATA_DIR", str(tmp_path))
    if os.environ.get(TEST_POSTGRES):
        monkeypatch.setenv("DATABASE_URL", fresh_database_url(tmp_path))
    else:
        monkeypatch.delenv("DATABASE_URL", raising=False)
    return tmp_path


@dataclass
class Services:
    """The running Rasa server and action server of a test session."""

    rasa_url: str
    data_dir: Path
    env: dict[str, str]

    def __post_init__(self) -> None:
        from common.config import settings
        from common.secrets import read_secret

        cfg = settings()  # the services' own: their data folder holds the generated secrets
        # the project's one Rasa client, as the bridge uses it (bridge channel, API token)
        self.client = RasaClient(
            self.rasa_url, 60, read_secret(cfg, "rasa_token"), bridge_token=read_secret(cfg, "bridge_token")
        )

    def secret(self, name: str) -> str:
        """One of the services' generated secrets (`<data>/secrets/<name>`)."""
        return (self.data_dir / "secrets" / name).read_text().strip()

    def send(self, sender: str, text: str) -> list[dict]:
        return self.client.send_sync(sender, text, empty_ok=True)

    def texts(self, sender: str, text: str) -> list[str]:
        return parse_replies(self.send(sender, text)).texts

    def tracker(self, sender: str) -> dict:
        return self.client.tracker_sync(sender)


def trained_model() -> Path:
    """The model the test command trained (or train it now, when run alone)."""
    from common.config import settings
    from launcher.training import ensure_model

    given = os.environ.get("XUNWU_TEST_MODEL")
    if given and not Path(given).is_file():
        pytest.exit(f"XUNWU_TEST_MODEL is not a model file: {given[:200]!r}", returncode=2)
    return Path(given) if given else ensure_model(settings())


@pytest.fixture(scope="session")
def services(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    """Starts the real action server and Rasa server (channels, HTTP API with a generated token) on free ports."""
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
