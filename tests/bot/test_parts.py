"""The bridge's small parts: rate limiter, sender ids, text splitting, speech steps, start-up checks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.app import ConfigError, check_config
from bot.outage import wants_person
from bot.outgoing import MAX_TEXT, digit_keyboard, split_text
from bot.runtime import RateLimiter, Verdict, parse_sender, sender_id
from bot.speaking import RATES, change_rate, speed_word
from common.config import settings
from common.rasa_client import Replies, parse_replies
from common.texts import say
from tests.bot.conftest import TOKEN


def test_rate_limiter_sliding_window_and_one_notice() -> None:
    now = [0.0]
    limiter = RateLimiter(3, window=60.0, clock=lambda: now[0])

    def at(t: float, key: int = 1) -> Verdict:
        now[0] = t
        return limiter.check(key)

    assert [at(0), at(10), at(20)] == [Verdict.ALLOW] * 3
    assert at(25) is Verdict.NOTIFY  # told once ...
    assert at(30) is Verdict.DROP  # ... not again in the window
    assert at(30, key=2) is Verdict.ALLOW  # other people are not affected
    assert at(60) is Verdict.ALLOW  # the message of t=0 left the window: one slot free
    assert at(61) is Verdict.DROP  # full again, and told less than a window ago
    assert [at(90), at(90)] == [Verdict.ALLOW, Verdict.ALLOW]  # t=10 and t=20 left
    assert at(90) is Verdict.NOTIFY  # full, and the last notice is a window old


def test_sender_ids_are_namespaced_per_chat() -> None:
    assert sender_id(-100123, 42) == "tg:-100123:42"
    assert parse_sender("tg:-100123:42") == (-100123, 42)
    for other in ("local-3f2a", "tg:abc:1", "tg:1", "default", ""):
        assert parse_sender(other) is None


def test_split_text_and_keyboard() -> None:
    assert split_text("短句") == ["短句"]
    long = "\n".join(["一二三四五六七八九十" * 30] * 20)  # 6000+ characters in lines of 300
    pieces = split_text(long)
    assert all(len(p) <= MAX_TEXT for p in pieces) and len(pieces) == 2
    assert "\n".join(pieces) == long
    assert [len(p) for p in split_text("字" * 9000)] == [MAX_TEXT, MAX_TEXT, 1000]
    keyboard = digit_keyboard([str(i) for i in range(1, 16)])
    assert [len(row) for row in keyboard.keyboard] == [5, 5, 5]
    assert keyboard.resize_keyboard and keyboard.one_time_keyboard


def test_parse_rasa_replies() -> None:
    replies = [
        {
            "recipient_id": "x",
            "text": "请选择",
            "buttons": [{"title": "1", "payload": "1"}, {"title": "2", "payload": "2"}],
        },
        {"recipient_id": "x", "custom": {"voice": True}},
        {"recipient_id": "x", "text": "好的", "custom": {"ticket": "XW-ABCDE"}},
    ]
    assert parse_replies(replies) == Replies(["请选择", "好的"], ["1", "2"], True)
    assert parse_replies([{"text": "x", "buttons": [{"title": "是", "payload": "/affirm"}]}]).keyboard == ["是"]
    spoken = {"speech": "护理补贴每月发。", "source_kind": "county"}
    answered = parse_replies(
        [{"text": "答"}, {"custom": spoken}, {"custom": {"listen": "shorter"}}, {"custom": {"listen": "repeat"}}]
    )
    assert (answered.texts, answered.speech, answered.listen) == (["答"], spoken, ["shorter", "repeat"])
    assert wants_person("转人工") and wants_person("我要找人工") and not wants_person("护理补贴")


def test_speech_rate_steps() -> None:
    data: dict = {}
    assert change_rate(data, 150, +1) == (170, True)
    assert change_rate(data, 150, +1) == (190, True)
    assert change_rate(data, 150, +1) == (190, False)  # already the fastest
    assert [change_rate(data, 150, -1)[0] for _ in range(5)] == [170, 150, 130, 110, 110]
    assert [speed_word(r) for r in RATES] == [say(f"utter_bot_speed_name_{i}") for i in range(1, 6)]
    assert speed_word(150) == "正常"
    assert change_rate({}, 160, -1) == (150, True)  # a configured rate between steps


def test_webhook_mode_refuses_without_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    cfg = settings().copy(update=dict(telegram_mode="webhook", webhook_url="https://bot.example.org/tg/hook"))
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
        check_config(cfg.copy(update=dict(webhook_secret="")))
    with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_URL"):
        check_config(cfg.copy(update=dict(webhook_url="", webhook_secret="s3cret")))
    check_config(cfg.copy(update=dict(webhook_secret="s3cret_-OK")))


def test_python_m_bot_refuses_without_token(tmp_path: Path) -> None:
    env = {**os.environ, "XUNWU_DATA_DIR": str(tmp_path), "TELEGRAM_BOT_TOKEN": ""}
    proc = subprocess.run(
        [sys.executable, "-m", "bot"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 2
    assert "TELEGRAM_BOT_TOKEN is not set" in proc.stdout + proc.stderr
    assert "TELEGRAM_BOT_TOKEN is not set" in (tmp_path / "logs" / "bot.log").read_text(encoding="utf-8")
