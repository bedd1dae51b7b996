"""The security checks of issue 16 against the real servers in the default configuration of
`make run` (tokens generated into the data folder, loopback): every one is refused, and
after a help request with a phone typed with spaces no log holds a full phone number."""

from __future__ import annotations

import json
import os
import socket
import time
from urllib.parse import urlsplit

import pytest

from bench.security import run_checks, table
from common.config import settings
from tests.conftest import Services

PHONE = "139 8765 4321"


def gone_away(services: Services, sender: str, text: str) -> None:
    """Send a message through the bridge channel and hang up before the answer."""
    url = urlsplit(services.client.webhook)
    body = json.dumps({"sender": sender, "message": text}).encode()
    head = (
        f"POST {url.path} HTTP/1.1\r\nHost: {url.netloc}\r\nContent-Type: application/json\r\n"
        f"X-Xunwu-Bridge-Token: {services.client.headers['X-Xunwu-Bridge-Token']}\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection((url.hostname, url.port)) as conn:
        conn.sendall(head + body)
        conn.shutdown(socket.SHUT_RDWR)


def test_every_security_check_is_refused(services: Services, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in services.env.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("DATABASE_URL", raising=False)
    sender = "local-sec-1"  # an end-to-end run first: a help request with a phone in several shapes
    for text in ("转人工", "王阿姨", PHONE, "1", "3", f"电话 {PHONE} 也可以，或者139-8765-4321", "0"):
        services.send(sender, text)
    services.send(sender, "我的电话是13987654321")
    gone_away(services, sender, f"我的电话 {PHONE} 请回电，" + "补贴" * 300)  # Rasa logs the message's text
    cfg = settings()
    logs = sorted((services.data_dir / "logs").glob("*"))
    deadline = time.monotonic() + 20
    while not any("139****4321" in p.read_text(errors="replace") for p in logs) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert any("139****4321" in p.read_text(errors="replace") for p in logs), "the phone was logged (masked)"
    checks = run_checks(cfg, log_files=logs, phones=[PHONE])
    assert len(checks) >= 30
    failed = [c for c in checks if not c.refused]
    print("\n".join(table(checks)))
    assert not failed, "\n".join(table(checks))
    assert os.stat(services.data_dir).st_mode & 0o777 == 0o700
