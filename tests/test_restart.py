"""Conversations persist across a restart of the servers (Rasa's SQL tracker store)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import Services, free_port, trained_model

pytestmark = pytest.mark.integration


def test_conversation_survives_a_restart(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    from common.config import settings
    from launcher.services import Supervisor, plan

    monkeypatch.setenv("XUNWU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RASA_PORT", str(free_port()))
    monkeypatch.setenv("ACTIONS_PORT", str(free_port()))
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    cfg = settings()
    model = trained_model()

    def started() -> Supervisor:
        supervisor = Supervisor(cfg, plan(cfg, model), echo=False)
        supervisor.start(timeout=240)
        return supervisor

    first = started()
    try:
        services = Services(cfg.rasa_url, tmp_path, dict(os.environ))
        services.texts("restart-1", "残疾人证怎么办")
        before = services.tracker("restart-1")
    finally:
        first.stop()
    assert (tmp_path / "tracker.db").is_file()

    second = started()
    try:
        after = services.tracker("restart-1")
        texts = [e.get("text") for e in after["events"] if e["event"] == "user"]
        assert "残疾人证怎么办" in texts
        assert after["slots"]["topic"] == before["slots"]["topic"]
        # …and the conversation goes on from there: a follow-up still knows the topic.
        services.texts("restart-1", "要带什么材料")
        assert services.tracker("restart-1")["slots"]["answer_sources"]
    finally:
        second.stop()
