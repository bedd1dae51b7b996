"""Logs: phones masked however they are typed, tokens and passwords hidden, files rotated."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from common.logs import mask, rotating_handler

PHONES = [
    "13812345678",
    "138 1234 5678",
    "138-1234-5678",
    "138.1234.5678",
    "+86 138 1234 5678",
    "86-13812345678",
    "１３８１２３４５６７８",
    "138　1234　5678",
    "0797-1234567",
    "07971234567",
    "（0797）123 4567",
    "0797 8123 4567",
]


@pytest.mark.parametrize("phone", PHONES)
def test_every_way_of_typing_a_phone_is_masked(phone: str) -> None:
    line = mask(f"invalid phone given: 电话是{phone}，谢谢")
    digits = "".join(ch for ch in phone.translate(str.maketrans("０１２３４５６７８９", "0123456789")) if ch.isdigit())
    assert digits[-8:-4] not in line.replace("****", ""), line
    assert "****" in line


@pytest.mark.parametrize(
    "text",
    ["2026-12-01 13:05:22", "ticket id 12345", "chat -1001234567890", "tg:1234567890:1234567890", "ts 1764590000.123"],
)
def test_what_is_not_a_phone_is_left_alone(text: str) -> None:
    assert mask(text) == text


def test_tokens_and_passwords_are_hidden() -> None:
    line = mask("bot 123456789:" + "b" * 35 + " db postgresql://xunwu:pw-123@db/tickets")
    assert "b" * 35 not in line and "pw-123" not in line and "postgresql://xunwu:***@db/tickets" in line


def test_log_files_rotate_by_size(tmp_path: Path) -> None:
    handler = rotating_handler(tmp_path / "x.log", max_bytes=2000, backups=2)
    log = logging.getLogger("test-rotation")
    log.addHandler(handler)
    try:
        for i in range(200):
            log.warning("line %d %s", i, "x" * 50)
    finally:
        log.removeHandler(handler)
        handler.close()
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == ["x.log", "x.log.1", "x.log.2"]
    assert all(p.stat().st_size <= 2100 for p in tmp_path.iterdir())
