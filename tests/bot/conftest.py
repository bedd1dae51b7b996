"""Fixtures for the Telegram bridge: the fake Bot API, and the bridge in-process or as `python -m bot`.

The bridge always runs the way production runs it (`bot.app.run`, i.e. PTB's run_polling
with post_init / post_shutdown), with TELEGRAM_BASE_URL pointing at FakeTelegramAPI's
root. In-process it runs in a thread with its own event loop (fast, and the test can look
at `application.user_data`); as a subprocess it can be killed with SIGKILL.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from bot.runtime import sender_id
from tests.conftest import ROOT, Services, free_port
from tests.fakes.telegram_api import Call, FakeTelegramAPI

# Shaped like a real token, so the log masking in common/logs.py applies to it.
TOKEN = "123456789:AAFakeTokenForTheBridgeTests_0123456789"
STAFF_CHAT = -1001234567890
STAFF_USER = 7001
OTHER_STAFF = 7003
OUTSIDER = 7002
RASA_WAIT = 120.0  # generous: Rasa turns take seconds on a busy 2-core machine

_ids = itertools.count(random.randint(100_000, 900_000) * 10)


def new_person() -> int:
    """A user (= private chat) id no other test in this session uses."""
    return next(_ids)


class BridgeProcess:
    """A running bridge; `stop()` is graceful, `kill()` (subprocess only) is SIGKILL."""

    env: dict[str, str]

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError


class InProcessBridge(BridgeProcess):
    """The Application in a thread of this process, built from `env` (already in os.environ)."""

    def __init__(self, env: dict[str, str], fake: FakeTelegramAPI, rate_window: float = 60.0) -> None:
        self.env = env
        self.fake = fake
        self.rate_window = rate_window
        self.app: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def start(self) -> None:
        from bot.app import build_application, run
        from common.config import settings

        cfg = settings()
        self.app = build_application(cfg, rate_window=self.rate_window)
        mark = self.fake.mark()

        def target() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                run(self.app, cfg, stop_signals=None)
            except BaseException as exc:  # noqa: BLE001 - reported by stop()
                self.errors.append(exc)

        self._thread = threading.Thread(target=target, name="bridge-under-test", daemon=True)
        self._thread.start()
        # the last bootstrap step: polling (or the webhook server) starts right after it
        ready = "setWebhook" if cfg.telegram_mode == "webhook" else "deleteWebhook"
        self.fake.wait_for_call(ready, since=mark, timeout=20)

    def stop(self) -> None:
        if self._thread is None:
            return
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.app.stop_running)
        self._thread.join(30)
        alive = self._thread.is_alive()
        self._thread = None
        assert not alive, "the bridge did not stop"
        assert not self.errors, f"the bridge failed: {self.errors!r}"

    @property
    def bridge(self) -> Any:
        return self.app.bridge


class SubprocessBridge(BridgeProcess):
    """`python -m bot` with the test's environment."""

    def __init__(self, env: dict[str, str], fake: FakeTelegramAPI, log_path: Path) -> None:
        self.env = env
        self.fake = fake
        self.log_path = log_path
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        mark = self.fake.mark()
        env = {**os.environ, **self.env}
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        try:
            self.fake.wait_for_call("deleteWebhook", since=mark, timeout=40)
        except TimeoutError:
            self.kill()
            raise AssertionError(f"the bridge did not start:\n{self.log_path.read_text(errors='replace')}") from None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.kill()
                raise AssertionError("the bridge ignored SIGTERM") from None
        self.proc = None

    def kill(self) -> None:
        """SIGKILL: no cleanup, no persistence flush, nothing marked."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.proc = None


@dataclass
class Bridges:
    """Makes bridges for one test; everything it started is stopped after the test."""

    fake: FakeTelegramAPI
    data_dir: Path
    monkeypatch: pytest.MonkeyPatch
    database_url: str
    started: list[BridgeProcess] = field(default_factory=list)

    def env(self, **overrides: str) -> dict[str, str]:
        env = {
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_BASE_URL": self.fake.url,
            "TELEGRAM_MODE": "polling",
            "XUNWU_DATA_DIR": str(self.data_dir),
            "DATABASE_URL": self.database_url,
            "STAFF_CHAT_ID": str(STAFF_CHAT),
            "STAFF_USER_IDS": f"{STAFF_USER},{OTHER_STAFF}",
            "RENOTIFY_MINUTES": "0",
            "TELEGRAM_TIMEOUT": "5",
            "RASA_TIMEOUT": "30",
        }
        env.update(overrides)
        return env

    def _apply(self, env: dict[str, str]) -> None:
        for key, value in env.items():
            self.monkeypatch.setenv(key, value)

    def in_process(self, rate_window: float = 60.0, **overrides: str) -> InProcessBridge:
        env = self.env(**overrides)
        self._apply(env)
        runner = InProcessBridge(env, self.fake, rate_window)
        self.started.append(runner)
        runner.start()
        return runner

    def subprocess(self, **overrides: str) -> SubprocessBridge:
        env = self.env(**overrides)
        self._apply(env)
        runner = SubprocessBridge(env, self.fake, self.data_dir / "bridge-subprocess.log")
        self.started.append(runner)
        runner.start()
        return runner

    def stop_all(self) -> None:
        for runner in reversed(self.started):
            runner.stop()
        self.started.clear()


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    with FakeTelegramAPI() as server:
        server.register_chat(STAFF_CHAT, "supergroup", title="寻乌县残联 求助处理")
        yield server


def _bridges(fake: FakeTelegramAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, db: str) -> Iterator[Bridges]:
    factory = Bridges(fake, tmp_path / "bridge-data", monkeypatch, db)
    try:
        yield factory
    finally:
        factory.stop_all()


@pytest.fixture
def bridges(fake: FakeTelegramAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Bridges]:
    """Bridges on a private database, with Rasa unreachable (a closed port)."""
    monkeypatch.setenv("RASA_PORT", str(free_port()))
    yield from _bridges(fake, tmp_path, monkeypatch, f"sqlite:///{tmp_path / 'tickets.db'}")


@pytest.fixture
def rasa_bridges(
    services: Services, fake: FakeTelegramAPI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Bridges]:
    """Bridges talking to the session's real Rasa + action server, on their database."""
    db = os.environ.get("DATABASE_URL") or f"sqlite:///{services.data_dir / 'tickets.db'}"
    for key, value in services.env.items():
        if key != "TELEGRAM_BOT_TOKEN":
            monkeypatch.setenv(key, value)
    yield from _bridges(fake, tmp_path, monkeypatch, db)


@pytest.fixture
def store(bridges: Bridges) -> Any:
    """The ticket store of the `bridges` database (the bridge uses the same file)."""
    from tickets.store import store_for

    return store_for(bridges.database_url)


# --------------------------------------------------------------------------- helpers


def texts(fake: FakeTelegramAPI, chat_id: int, since: int = 0) -> list[str]:
    """Texts the bot sent successfully to `chat_id`."""
    return [c.params["text"] for c in fake.calls("sendMessage", chat_id, since=since) if c.ok]


def wait_text(
    fake: FakeTelegramAPI,
    chat_id: int,
    want: str | Callable[[str], bool],
    since: int = 0,
    timeout: float = 15.0,
) -> Call:
    """The first successful sendMessage to `chat_id` (from `since`) whose text contains / matches `want`."""
    match = (lambda text: want in text) if isinstance(want, str) else want

    def found() -> Call | None:
        return next(
            (c for c in fake.calls("sendMessage", chat_id, since=since) if c.ok and match(c.params["text"])), None
        )

    return fake.wait_for(found, timeout, f"a message to {chat_id} matching {want!r}")


def card_calls(fake: FakeTelegramAPI, number: str) -> list[Call]:
    """Successful sendMessage calls to the staff group that are the card of ticket `number`."""
    return [
        c for c in fake.calls("sendMessage", STAFF_CHAT) if c.ok and c.params["text"].startswith(f"求助 {number}（")
    ]


def wait_card(fake: FakeTelegramAPI, number: str, timeout: float = 15.0) -> Call:
    return fake.wait_for(lambda: next(iter(card_calls(fake, number)), None), timeout, f"the card of {number}")


def eventually(predicate: Callable[[], object], timeout: float = 30.0, interval: float = 0.1) -> None:
    """Wait until `predicate()` is true (for conditions the fake cannot signal, e.g. Rasa's tracker)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met in {timeout:g}s")
        time.sleep(interval)


class TcpProxy:
    """127.0.0.1:port → 127.0.0.1:target, which a test can take down and bring up again.

    Rasa itself stays up; the bridge sees it vanish (connections refused, open ones cut)
    and come back, as when Rasa restarts.
    """

    def __init__(self, target_port: int) -> None:
        self.port = free_port()
        self.target_port = target_port
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tcp-proxy", daemon=True)
        self._thread.start()
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()

    def _call(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            pass
        finally:
            writer.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
        except OSError:
            writer.close()
            return
        self._writers |= {writer, up_writer}
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))
        self._writers -= {writer, up_writer}

    async def _up(self) -> None:
        if self._server is None:
            self._server = await asyncio.start_server(self._handle, "127.0.0.1", self.port)

    async def _down(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    def up(self) -> None:
        self._call(self._up())

    def down(self) -> None:
        self._call(self._down())

    def close(self) -> None:
        self.down()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)


@pytest.fixture
def rasa_proxy(services: Services) -> Iterator[TcpProxy]:
    """A switchable TCP path to the session's real Rasa server."""
    proxy = TcpProxy(int(services.env["RASA_PORT"]))
    proxy.up()
    try:
        yield proxy
    finally:
        proxy.close()


def user_texts(services: Services, sender: str) -> list[str]:
    """What `sender` said according to Rasa's tracker.

    (`Services.tracker` percent-encodes ":", which Rasa's route does not decode, so it
    finds no conversation for "tg:<chat>:<user>" senders; ":" is fine in a URL path.)
    """
    url = f"{services.rasa_url}/conversations/{urllib.parse.quote(sender, safe=':')}/tracker"
    with urllib.request.urlopen(url, timeout=30) as resp:
        events = json.loads(resp.read())["events"]
    return [e.get("text") or "" for e in events if e["event"] == "user"]


def make_ticket(store: Any, resident: int, **fields: Any) -> Any:
    """A ticket from Telegram resident `resident`, as the action server would store it."""
    values = {
        "contact_name": "王阿姨",
        "phone": "13812345678",
        "township": "长宁镇",
        "category": "补贴",
        "description": "护理补贴申请了三个月还没到账",
    }
    return store.create(sender_id(resident, resident), **{**values, **fields})
