"""Rasa's channels and tracker API, as every client here uses them: the Telegram bridge
(async), the terminal chat, the benchmarks and the tests (sync or async).

With a `bridge_token` (BRIDGE_TOKEN, common/secrets.py) messages go to the authenticated
bridge channel (`/webhooks/bridge/webhook`, header X-Xunwu-Bridge-Token), the only one
that may speak for a Telegram sender; without one, to the public REST channel. The HTTP
API (trackers) needs RASA_TOKEN. `RasaClient.from_settings(cfg)` picks both up.

One message is one request; there is no connection state to lose when Rasa restarts, so a
client "reconnects" simply by trying again on the next message.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from common.config import Settings

Reply = dict[str, Any]
BRIDGE_HEADER = "X-Xunwu-Bridge-Token"  # rasa_addons/channels.py


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
    """`send(sender, text)` to a channel's webhook, `tracker(sender)` from the HTTP API.

    The async methods (`send`, `tracker`) use one pooled `httpx.AsyncClient`, the `*_sync`
    ones one `httpx.Client`; each is made on first use. `token` is RASA_TOKEN,
    `bridge_token` BRIDGE_TOKEN (then the bridge channel is used). `on_replies` is called
    with every list of replies `send` returns (the bridge wakes its deliverer when one
    carries a ticket number that is on its way through the outbox).
    """

    def __init__(
        self,
        rasa_url: str,
        timeout: float = 30.0,
        token: str = "",
        max_connections: int = 100,
        *,
        bridge_token: str = "",
        on_replies: Callable[[list[Reply]], None] | None = None,
    ) -> None:
        self.base = rasa_url.rstrip("/")
        self.channel = "bridge" if bridge_token else "rest"
        self.webhook = f"{self.base}/webhooks/{self.channel}/webhook"
        self.token = token
        self.headers = {BRIDGE_HEADER: bridge_token} if bridge_token else {}
        self.on_replies = on_replies
        self._timeout = httpx.Timeout(timeout, connect=5.0)
        self._limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=max_connections)
        self._async: httpx.AsyncClient | None = None
        self._sync: httpx.Client | None = None

    @classmethod
    def from_settings(cls, cfg: Settings, timeout: float | None = None, **options: Any) -> RasaClient:
        """The client of a process on this deployment: both tokens from the settings or `<data>/secrets/`."""
        from common.secrets import read_secret

        return cls(
            cfg.rasa_url,
            cfg.rasa_timeout if timeout is None else timeout,
            read_secret(cfg, "rasa_token"),
            bridge_token=read_secret(cfg, "bridge_token"),
            **options,
        )

    def tracker_url(self, sender: str) -> str:
        # ":" stays as it is: Rasa's route does not decode %3A ("tg:<chat>:<user>" senders)
        return f"{self.base}/conversations/{urllib.parse.quote(sender, safe=':')}/tracker"

    def _params(self) -> dict[str, str]:
        return {"token": self.token} if self.token else {}

    @staticmethod
    def _body(sender: str, text: str) -> dict[str, str]:
        # a lone surrogate (Telegram can send one) cannot be encoded as UTF-8: it becomes "?"
        return {"sender": sender, "message": text.encode("utf-8", "replace").decode("utf-8")}

    # -- async (the bridge, the load benchmark) -----------------------------------------------
    @property
    def async_client(self) -> httpx.AsyncClient:
        if self._async is None:
            self._async = httpx.AsyncClient(timeout=self._timeout, limits=self._limits)
        return self._async

    async def post(self, sender: str, text: str) -> httpx.Response:
        """The raw HTTP exchange (the benchmarks time it and look at the status themselves)."""
        return await self.async_client.post(self.webhook, json=self._body(sender, text), headers=self.headers)

    async def send(self, sender: str, text: str, *, empty_ok: bool = False) -> list[Reply]:
        """The replies to `text` from `sender`; RasaUnavailable when there are none."""
        try:
            resp = await self.post(sender, text)
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        replies = _replies(resp, empty_ok)
        if self.on_replies is not None:
            self.on_replies(replies)
        return replies

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
        return self.sync_client.post(self.webhook, json=self._body(sender, text), headers=self.headers)

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


@dataclass
class Replies:
    """What Rasa answered, taken apart for a client.

    `texts` to show; `keyboard` labels of the last buttons; `voice` the voice switch
    ({"voice": bool}) or None; `speech` the spoken form of a knowledge answer
    ({"speech": …, "source_kind": …}, actions/answer.py) or None; `listen` the requests
    about how to listen ({"listen": "shorter"|"slower"|"repeat"|"no_sources"|…},
    actions/voice.py), in order; `created` the numbers of tickets the reply stored
    ({"ticket": …, "delivery": "outbox"}, actions/help_form.py).
    """

    texts: list[str] = field(default_factory=list)
    keyboard: list[str] = field(default_factory=list)
    voice: bool | None = None
    speech: dict[str, Any] | None = None
    listen: list[str] = field(default_factory=list)
    created: list[str] = field(default_factory=list)  # tickets just stored, told through the outbox


def parse_replies(replies: Sequence[dict[str, Any]]) -> Replies:
    """Rasa's REST replies → `Replies` (texts, keyboard labels, voice switch, speech, listen).

    A button's payload is its label, unless it is an intent ("/affirm"): then its title.
    """
    out = Replies()
    labels: list[str] = []
    for item in replies:
        if item.get("text"):
            out.texts.append(str(item["text"]))
        if item.get("buttons"):
            labels = []
            for button in item["buttons"]:
                payload = str(button.get("payload") or "")
                labels.append(payload if payload and not payload.startswith("/") else str(button.get("title", "")))
        custom = item.get("custom")
        if not isinstance(custom, dict):
            continue
        if isinstance(custom.get("voice"), bool):
            out.voice = custom["voice"]
        if isinstance(custom.get("speech"), str):
            out.speech = dict(custom)
        if isinstance(custom.get("listen"), str) and custom["listen"]:
            out.listen.append(custom["listen"])
        if custom.get("delivery") == "outbox" and isinstance(custom.get("ticket"), str):
            out.created.append(custom["ticket"])
    out.keyboard = [label for label in labels if label]
    return out
