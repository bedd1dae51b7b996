"""Rasa's REST channel and tracker API, as every client here uses them: the Telegram bridge
(async), the terminal chat, the benchmarks and the tests (sync or async).

One message is one request; there is no connection state to lose when Rasa restarts, so a
client "reconnects" simply by trying again on the next message.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Sequence
from typing import Any

import httpx

Reply = dict[str, Any]


class RasaUnavailable(Exception):
    """Rasa or the action server did not answer usefully (down, timeout, 5xx, no reply)."""


def _replies(resp: httpx.Response, empty_ok: bool) -> list[Reply]:
    """The bot's replies in a REST channel response, or RasaUnavailable.

    An empty list means the action server failed (Rasa swallows that error), so it counts
    as unavailable unless `empty_ok`: a person is never left without an answer.
    """
    if resp.status_code != 200:
        raise RasaUnavailable(f"HTTP {resp.status_code}")
    try:
        replies = resp.json()
    except ValueError as exc:
        raise RasaUnavailable("reply is not JSON") from exc
    if not isinstance(replies, list) or (not replies and not empty_ok):
        raise RasaUnavailable("no reply (is the action server running?)")
    return [r for r in replies if isinstance(r, dict)]


class RasaClient:
    """`send(sender, text)` to `{rasa_url}/webhooks/rest/webhook`, `tracker(sender)` from the HTTP API.

    The async methods (`send`, `tracker`) use one pooled `httpx.AsyncClient`, the `*_sync`
    ones one `httpx.Client`; each is made on first use. `token` is RASA_TOKEN.
    """

    def __init__(self, rasa_url: str, timeout: float = 30.0, token: str = "", max_connections: int = 100) -> None:
        self.base = rasa_url.rstrip("/")
        self.webhook = f"{self.base}/webhooks/rest/webhook"
        self.token = token
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._async: httpx.AsyncClient | None = None
        self._sync: httpx.Client | None = None

    def tracker_url(self, sender: str) -> str:
        # ":" stays as it is: Rasa's route does not decode %3A ("tg:<chat>:<user>" senders)
        return f"{self.base}/conversations/{urllib.parse.quote(sender, safe=':')}/tracker"

    def _params(self) -> dict[str, str]:
        return {"token": self.token} if self.token else {}

    @staticmethod
    def _body(sender: str, text: str) -> dict[str, str]:
        return {"sender": sender, "message": text}

    # -- async (the bridge, the load benchmark) -----------------------------------------------
    @property
    def async_client(self) -> httpx.AsyncClient:
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self._timeout, limits=self._limits)
        return self._async

    async def post(self, sender: str, text: str) -> httpx.Response:
        """The raw HTTP exchange (the benchmarks time it and look at the status themselves)."""
        return await self.async_client.post(self.webhook, json=self._body(sender, text))

    async def send(self, sender: str, text: str, *, empty_ok: bool = False) -> list[Reply]:
        """The replies to `text` from `sender`; RasaUnavailable when there are none."""
        try:
            resp = await self.post(sender, text)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return _replies(resp, empty_ok)

    async def tracker(self, sender: str) -> dict[str, Any]:
        resp = await self.async_client.get(self.tracker_url(sender), params=self._params())
        resp.raise_for_status()
        return resp.json()

    # -- sync (the terminal chat, the tests, the benchmarks) ---------------------------------
    @property
    def sync_client(self) -> httpx.Client:
        if self._sync is None:
            self._sync = httpx.Client(timeout=self._timeout, limits=self._limits)
        return self._sync

    def post_sync(self, sender: str, text: str) -> httpx.Response:
        return self.sync_client.post(self.webhook, json=self._body(sender, text))

    def send_sync(self, sender: str, text: str, *, empty_ok: bool = False) -> list[Reply]:
        try:
            resp = self.post_sync(sender, text)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        return _replies(resp, empty_ok)

    def tracker_sync(self, sender: str) -> dict[str, Any]:
        resp = self.sync_client.get(self.tracker_url(sender), params=self._params())
        resp.raise_for_status()
        return resp.json()

    # -- both ----------------------------------------------------------------------------------
    async def close(self) -> None:
        if self._async is not None:
            await self._async.aclose()
            self._async = None
        self.close_sync()

    def close_sync(self) -> None:
        if self._sync is not None:
            self._sync.close()
            self._sync = None


def parse_replies(replies: Sequence[dict[str, Any]]) -> tuple[list[str], list[str], bool | None]:
    """Rasa's REST replies → (texts, keyboard labels, voice switch or None).

    A button's payload is its label, unless it is an intent ("/affirm"): then its title.
    """
    texts: list[str] = []
    labels: list[str] = []
    voice: bool | None = None
    for item in replies:
        if item.get("text"):
            texts.append(str(item["text"]))
        if item.get("buttons"):
            labels = []
            for button in item["buttons"]:
                payload = str(button.get("payload") or "")
                labels.append(payload if payload and not payload.startswith("/") else str(button.get("title", "")))
        custom = item.get("custom")
        if isinstance(custom, dict) and isinstance(custom.get("voice"), bool):
            voice = custom["voice"]
    return texts, [label for label in labels if label], voice
