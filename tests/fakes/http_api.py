"""The in-memory BotApi (bot_api.py) behind a local HTTP server, for what needs real HTTP:
long polling, the webhook, `python -m bot` killed with SIGKILL, 5xx and slow answers.

Requests go to `{url}/bot<token>/<method>` (the bridge's TELEGRAM_BASE_URL is `url`).
`push(update)` queues an update for getUpdates, or posts it to the bridge's webhook once
one is set. `slow(n, seconds, methods)` answers the next n calls late, after their effect
is applied (as when Telegram did the work but the answer arrived after the client's timeout).
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass
from typing import Any

import httpx
from aiohttp import web

from tests.conftest import free_port
from tests.fakes.bot_api import JSON, BotApi, parse_params


@dataclass
class Slow:
    seconds: float
    count: int
    methods: frozenset[str]
    until: float = float("inf")


class HttpBotApi:
    def __init__(self, api: BotApi | None = None) -> None:
        self.api = api or BotApi()
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.webhook: tuple[str, str] | None = None
        self._updates: list[JSON] = []
        self._slow: list[Slow] = []
        self._loop = asyncio.new_event_loop()
        self._arrived: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._serve, name="fake-bot-api", daemon=True)
        self._runner: web.AppRunner | None = None
        self._ready = threading.Event()
        self._closing = False

    # -- the server ------------------------------------------------------------------------------
    def __enter__(self) -> HttpBotApi:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("the fake Bot API did not start")
        return self

    def __exit__(self, *_: object) -> None:
        self._closing = True
        self._loop.call_soon_threadsafe(self._arrived.set)  # pending long polls answer now
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._arrived = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/bot{token}/{method}", self._handle)
        app.router.add_route("GET", "/file/bot{token}/{path:.+}", self._file)
        self._runner = web.AppRunner(app)
        self._loop.run_until_complete(self._runner.setup())
        self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port).start())
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, request: web.Request) -> web.Response:
        try:
            return await self._answer(request)
        except ConnectionResetError:  # the client went away (a bridge killed mid-request)
            return web.Response(status=499)

    async def _file(self, request: web.Request) -> web.Response:
        status, data = self.api.download(request.match_info["path"])
        return web.Response(status=status, body=data)

    async def _answer(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        raw: dict[str, str] = {}
        files: dict[str, bytes] = {}
        if request.content_type == "application/json":
            raw = {k: v if isinstance(v, str) else json.dumps(v) for k, v in (await request.json()).items()}
        else:
            for key, value in (await request.post()).items():
                if isinstance(value, web.FileField):
                    files[key] = value.file.read()
                else:
                    raw[key] = str(value)
        params = parse_params(raw)
        status, body = self.api.handle(method, params, files)
        if status == 200 and method == "getUpdates":
            body["result"] = await self._poll(params)
        elif status == 200 and method == "setWebhook":
            self.webhook = (params["url"], params.get("secret_token", ""))
        elif status == 200 and method == "deleteWebhook":
            self.webhook = None
        delay = self._take_slow(method)
        if delay:
            await asyncio.sleep(delay)
        return web.json_response(body, status=status)

    def _take_slow(self, method: str) -> float:
        for rule in self._slow:
            if rule.count > 0 and time.monotonic() < rule.until and (not rule.methods or method in rule.methods):
                rule.count -= 1
                return rule.seconds
        return 0.0

    async def _poll(self, params: JSON) -> list[JSON]:
        offset = int(params.get("offset") or 0)

        def pending(update: Any) -> bool:
            uid = update.get("update_id") if isinstance(update, dict) else None
            return isinstance(uid, int) and uid >= offset

        self._updates = [u for u in self._updates if pending(u)]
        deadline = time.monotonic() + float(params.get("timeout") or 0)
        while not self._updates and not self._closing and time.monotonic() < deadline:
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), deadline - time.monotonic())
            except TimeoutError:
                break
        batch = list(self._updates)
        # one without a usable id could never be confirmed by an offset: it is handed out once
        self._updates = [u for u in self._updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
        return batch

    # -- what tests do ------------------------------------------------------------------------------
    def push(self, update: JSON) -> None:
        """Telegram receives `update` for the bot: polling gets it, or it is posted to the webhook."""
        if self.webhook is not None:
            status = self.post_to_webhook(update, self.webhook[1])
            assert status == 200, f"the webhook answered {status}"
            return

        def add() -> None:
            self._updates.append(update)
            self._arrived.set()

        self._loop.call_soon_threadsafe(add)

    def post_to_webhook(self, update: JSON, secret: str | None) -> int:
        """POST `update` to the bridge's webhook with `secret` as Telegram's header; the status."""
        assert self.webhook is not None, "no webhook set"
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        return httpx.post(self.webhook[0], json=update, headers=headers, timeout=10).status_code

    def slow(self, n: int, seconds: float, methods: tuple[str, ...] = ()) -> None:
        self._slow.append(Slow(seconds, n, frozenset(methods)))

    def slow_for(self, duration: float, seconds: float, methods: tuple[str, ...] = ()) -> None:
        """For `duration` seconds, answer every call to `methods` `seconds` late (its effect applied
        at once: Telegram timing out on requests it did accept)."""
        self._slow.append(Slow(seconds, 10**9, frozenset(methods), time.monotonic() + duration))

    def push_raw(self, update: Any) -> None:
        """Queue anything as an update for getUpdates (a malformed one, for the poison tests)."""

        def add() -> None:
            self._updates.append(update)
            self._arrived.set()

        self._loop.call_soon_threadsafe(add)

    @property
    def pending_updates(self) -> int:
        """Updates Telegram still holds for the bot (not yet confirmed by a later offset)."""
        return len(self._updates)

    def wait_call(self, method: str, since: int = 0, timeout: float = 30.0) -> Any:
        return self.api.wait_for(lambda: self.api.sent(method, since=since), timeout, f"a {method} call")
