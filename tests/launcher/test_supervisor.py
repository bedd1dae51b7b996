"""The supervisor: a process that dies is started again with backoff (the others keep running),
staff are alerted when it keeps dying, child output is masked and rotated, files are private."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from common.config import settings
from launcher import services
from launcher.services import RotatingLog, Service, Supervisor


@pytest.fixture
def cfg(data_dir: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "")
    return settings()


def sleeper(name: str, say: str = "") -> Service:
    code = f"import sys, time; print({say!r}, flush=True); time.sleep(600)"
    return Service(name, [sys.executable, "-c", code], None)


def test_a_dead_process_is_restarted_with_backoff_and_the_others_keep_running(cfg) -> None:
    alerts: list[tuple[str, int]] = []
    sup = Supervisor(cfg, [sleeper("one"), sleeper("two")], echo=False, alert=lambda s, n: alerts.append((s.name, n)))
    sup.start(watch=False)  # the watch loop's steps are taken by hand, on a clock of our own
    try:
        one, two = sup.running("one"), sup.running("two")
        other_pid = two.proc.pid
        pids = {one.proc.pid}
        now = 1000.0
        for expected in (1.0, 2.0, 4.0, 8.0):
            os.killpg(one.proc.pid, signal.SIGKILL)
            one.proc.wait(10)
            sup.check(one, now)
            assert one.restart_at == now + expected  # 1, 2, 4, 8 s …
            sup.check(one, now + expected - 0.1)
            assert one.proc.poll() is not None  # not yet
            sup.check(one, now + expected)
            assert one.proc.poll() is None
            pids.add(one.proc.pid)
            now += expected + 1
            sup.check(two, now)
        assert len(pids) == 5
        assert two.proc.pid == other_pid and two.proc.poll() is None  # never stopped
        assert alerts == [("one", services.RESTART_ALERT_COUNT)]  # once, not at every restart
        log = one.log_path.read_text()
        assert log.count("exited with status -9") == 4 and log.count("started again") == 4
        sup.check(one, now + services.RESTART_STABLE_SECONDS + 1)  # it stayed up: the delay starts over
        assert one.next_delay == services.RESTART_FIRST_DELAY
    finally:
        sup.stop()


def test_the_watch_loop_restarts_by_itself(cfg, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "RESTART_FIRST_DELAY", 0.1)
    sup = Supervisor(cfg, [sleeper("one")], echo=False, alert=lambda s, n: None)
    sup.start()
    try:
        one = sup.running("one")
        first = one.proc.pid
        os.killpg(first, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while (one.proc.pid == first or one.proc.poll() is not None) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert one.proc.pid != first and one.proc.poll() is None
    finally:
        sup.stop()


def test_child_output_is_masked_and_files_are_private(cfg) -> None:
    sup = Supervisor(cfg, [sleeper("talker", "居民电话 138 1234 5678")], echo=False)
    sup.start()
    try:
        svc = sup.running("talker")
        deadline = time.monotonic() + 10
        while "电话" not in svc.log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        text = svc.log_path.read_text()
        assert "138****5678" in text and "1234" not in text.split("138****5678")[0][-20:]
    finally:
        sup.stop()
    assert cfg.data_dir.stat().st_mode & 0o777 == 0o700
    for path in cfg.data_dir.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path
    for name in ("rasa_token", "bridge_token", "actions_token"):
        assert len((cfg.data_dir / "secrets" / name).read_text().strip()) >= 40


def test_rotating_child_log(tmp_path: Path) -> None:
    out = RotatingLog(tmp_path / "rasa.out.log", max_bytes=1000, backups=3)
    for i in range(300):  # about 6 KB
        out.write(f"line {i} 13812345678\n".encode())
    out.close()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["rasa.out.log", "rasa.out.log.1", "rasa.out.log.2", "rasa.out.log.3"]
    assert "13812345678" not in "".join(p.read_text() for p in tmp_path.iterdir())
