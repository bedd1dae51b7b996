"""The bridge in-process, the way python-telegram-bot tests itself: the real Application,
built by `bot.app.build_application`, with an offline request object (tests/fakes/bot_api.py)
instead of Telegram, and updates handed to it as its update fetcher does (through the update
processor, then `Application.process_update`). The outbox is delivered by calling the
deliverer's `run_once()`, so nothing waits on a clock.

Residents' messages reach the session's real Rasa and action server where a test asks for
`rasa_bridge`; `bridge` has Rasa unreachable (a closed port). What needs real HTTP
(polling, webhook, SIGKILL, outages) is in test_http.py.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import random
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from telegram import Update

from bot.context import BridgeApplication
from bot.runtime import sender_id
from tests.conftest import Services, free_port
from tests.fakes.bot_api import JSON, BotApi, OfflineRequest, callback_update, message_update, reply_update
from tests.fakes.http_api import HttpBotApi
from tests.fakes.tcp_proxy import TcpProxy
from tickets.store import Ticket, TicketStore, store_for

# Shaped like a real token, so the log masking in common/logs.py applies to it.
TOKEN = "123456789:" + "b" * 35  # made up, of the shape Telegram gives
STAFF_CHAT = -1001234567890
STAFF_USER = 7001
OTHER_STAFF = 7003
OUTSIDER = 7002

_ids = itertools.count(random.randint(100_000, 900_000) * 10)


def new_person() -> int:
    """A user (= private chat) id no other test in this session uses."""
    return next(_ids)


def bridge_env(data_dir: Path, database_url: str, **overrides: str) -> dict[str, str]:
    env = {
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_BASE_URL": "",
        "TELEGRAM_MODE": "polling",
        "XUNWU_DATA_DIR": str(data_dir),
        "DATABASE_URL": database_url,
        "STAFF_CHAT_ID": str(STAFF_CHAT),
        "STAFF_USER_IDS": f"{STAFF_USER},{OTHER_STAFF}",
        "RENOTIFY_MINUTES": "0",
        "TELEGRAM_TIMEOUT": "5",
        "RASA_TIMEOUT": "30",
        "ASR_ENABLED": "0",  # the recogniser is loaded only by the tests that listen (test_voice_in.py)
    }
    return {**env, **overrides}


class Harness:
    """One bridge Application on an offline Bot API."""

    def __init__(self, app: BridgeApplication, api: BotApi) -> None:
        self.app = app
        self.api = api
        self.errors: list[BaseException] = []
        self.stopped = False

    @property
    def store(self) -> TicketStore:
        return self.app.bridge.store

    async def send(self, update: JSON) -> None:
        """One update, as the update fetcher hands it over (order and rate limit included)."""
        parsed = Update.de_json(update, self.app.bot)
        await self.app.update_processor.process_update(parsed, self.app.process_update(parsed))

    async def say(self, person: int, text: str, first_name: str = "") -> list[str]:
        """A resident writes `text`; what the bridge answered in their chat."""
        mark = self.api.mark()
        await self.send(message_update(self.api, person, person, first_name, text=text))
        return self.api.texts(person, mark)

    async def staff_says(self, user_id: int, text: str, reply_to: JSON | None = None) -> list[str]:
        """A message (or a reply to `reply_to`) in the staff group; what the bridge answered there."""
        mark = self.api.mark()
        if reply_to is None:
            await self.send(message_update(self.api, STAFF_CHAT, user_id, text=text))
        else:
            await self.send(reply_update(self.api, STAFF_CHAT, user_id, text, reply_to))
        return self.api.texts(STAFF_CHAT, mark)

    async def press(self, user_id: int, card: JSON, data: str, first_name: str = "") -> JSON:
        """A button press under `card`; the answerCallbackQuery it got."""
        update = callback_update(self.api, STAFF_CHAT, user_id, card, data, first_name)
        await self.send(update)
        return self.api.callback_answers[update["callback_query"]["id"]]

    async def deliver(self) -> None:
        """One pass of the outbox deliverer (what its loop does every second)."""
        deliverer = self.app.bridge.deliverer
        assert deliverer is not None
        await deliverer.run_once()

    def card(self, ticket: Ticket) -> JSON:
        """The card message of `ticket` in the staff group, as it is now."""
        chat, message_id = next(c for c in self.store.cards.of_ticket(ticket.id) if c[0] == str(STAFF_CHAT))
        return self.api.messages[(int(chat), message_id)]

    def actions(self, number: str) -> list[str]:
        return actions(self.store, number)

    async def stop(self) -> None:
        """What PTB does when the bridge stops: persist, shut down, close the Rasa client."""
        if self.stopped:
            return
        self.stopped = True
        await self.app.update_persistence()
        await self.app.shutdown()
        await self.app.bridge.rasa.close()


Start = Callable[..., Awaitable[Harness]]


@pytest.fixture
async def start(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Start]:
    """`await start(**env_overrides)`: a new bridge (stopped after the test). Calling it again
    is a restart on the same data folder and database; pass `api=` to keep the Bot API."""
    from bot.app import build_application
    from common.config import settings

    running: list[Harness] = []
    closed_port = str(free_port())

    async def begin(api: BotApi | None = None, rate_window: float = 60.0, **overrides: str) -> Harness:
        db = os.environ.get("BRIDGE_TEST_DATABASE_URL") or f"sqlite:///{tmp_path / 'tickets.db'}"
        overrides.setdefault("RASA_PORT", os.environ.get("BRIDGE_TEST_RASA_PORT") or closed_port)
        for key, value in bridge_env(tmp_path / "bridge-data", db, **overrides).items():
            monkeypatch.setenv(key, value)
        api = api or BotApi(chat_titles={STAFF_CHAT: "寻乌县残联 求助处理"})
        app = build_application(settings(), rate_window=rate_window, request=OfflineRequest(api))
        harness = Harness(app, api)

        async def record(update: object, context: Any) -> None:
            harness.errors.append(context.error)

        app.add_error_handler(record)
        await app.initialize()
        running.append(harness)
        return harness

    try:
        yield begin
    finally:
        for harness in running:
            await harness.stop()
        for harness in running:
            assert not harness.errors, f"the bridge failed: {harness.errors!r}"


@pytest.fixture
def rasa(services: Services, monkeypatch: pytest.MonkeyPatch) -> Services:
    """Bridges of this test talk to the session's real Rasa and action server (their database)."""
    monkeypatch.setenv("BRIDGE_TEST_RASA_PORT", services.env["RASA_PORT"])
    monkeypatch.setenv("BRIDGE_TOKEN", services.secret("bridge_token"))  # the bridge proves it is the bridge
    db = os.environ.get("DATABASE_URL") or f"sqlite:///{services.data_dir / 'tickets.db'}"
    monkeypatch.setenv("BRIDGE_TEST_DATABASE_URL", db)
    return services


def make_ticket(store: TicketStore, resident: int, **fields: Any) -> Ticket:
    """A ticket from Telegram resident `resident`, as the action server would store it."""
    values = {
        "contact_name": "王阿姨",
        "phone": "13812345678",
        "township": "长宁镇",
        "category": "补贴",
        "description": "护理补贴申请了三个月还没到账",
    }
    return store.create(sender_id(resident, resident), **{**values, **fields})


def actions(store: TicketStore, number: str) -> list[str]:
    """The actions in the history of ticket `number`, oldest first."""
    return [e["action"] for e in store.history(number)]


def card_texts(api: BotApi, number: str) -> list[str]:
    """Cards of ticket `number` sent to the staff group."""
    return [t for t in api.texts(STAFF_CHAT) if t.startswith(f"求助 {number}（")]


@pytest.fixture
def rasa_proxy(services: Services) -> Iterator[TcpProxy]:
    """A switchable TCP path to the session's real Rasa server."""
    proxy = TcpProxy(int(services.env["RASA_PORT"]))
    proxy.up()
    try:
        yield proxy
    finally:
        proxy.close()


# -- the bridge over real HTTP (test_http.py, test_faults.py) ------------------------------------


@pytest.fixture
def server() -> Iterator[HttpBotApi]:
    """A local Bot API server over real HTTP (tests/fakes/http_api.py) that knows the staff group."""
    with HttpBotApi(BotApi(chat_titles={STAFF_CHAT: "寻乌县残联 求助处理"})) as fake:
        yield fake


@pytest.fixture
def env_overrides() -> dict[str, str]:
    """Settings a test module changes in `env` (override this fixture there)."""
    return {}


@pytest.fixture
def env(
    server: HttpBotApi, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env_overrides: dict[str, str]
) -> dict[str, str]:
    """The bridge's environment against `server`, set for this test and returned."""
    values = bridge_env(
        tmp_path / "bridge-data",
        f"sqlite:///{tmp_path / 'tickets.db'}",
        TELEGRAM_BASE_URL=server.url,
        RASA_PORT=str(free_port()),  # Rasa unreachable: these tests are about Telegram
        **env_overrides,
    )
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


@pytest.fixture
def store(env: dict[str, str]) -> TicketStore:
    return store_for(env["DATABASE_URL"])


class ThreadBridge:
    """`bot.polling.run` in a thread with its own event loop."""

    def __init__(self, server: HttpBotApi) -> None:
        from bot.app import build_application
        from bot.polling import run
        from common.config import settings

        cfg = settings()
        self.app = build_application(cfg)
        self.errors: list[BaseException] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        mark = server.api.mark()

        def target() -> None:
            self._loop = asyncio.new_event_loop()
            asyncio.set_event_loop(self._loop)
            try:
                run(self.app, cfg, stop_signals=None)
            except BaseException as exc:  # reported by stop()
                self.errors.append(exc)

        self._thread = threading.Thread(target=target, name="bridge-under-test", daemon=True)
        self._thread.start()
        server.wait_call("setWebhook" if cfg.telegram_mode == "webhook" else "deleteWebhook", since=mark)

    def stop(self) -> None:
        if self._loop is not None and self._loop.is_running():
            self._loop.call_soon_threadsafe(self.app.stop_running)
        self._thread.join(30)
        assert not self._thread.is_alive(), "the bridge did not stop"
        assert not self.errors, f"the bridge failed: {self.errors!r}"


@pytest.fixture
def threads(server: HttpBotApi, env: dict[str, str]) -> Iterator[Any]:
    started: list[ThreadBridge] = []

    def begin() -> ThreadBridge:
        started.append(ThreadBridge(server))
        return started[-1]

    yield begin
    for bridge in started:
        bridge.stop()
