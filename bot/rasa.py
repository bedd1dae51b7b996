"""Rasa's REST channel, as the bridge uses it: one message in, the bot's replies out."""

from __future__ import annotations

import logging
from typing import Any

import httpx

log = logging.getLogger(__name__)


class RasaUnavailable(Exception):
    """Rasa or the action server did not answer usefully (down, timeout, 5xx, no reply)."""


class RasaClient:
    """POSTs to `{rasa_url}/webhooks/rest/webhook`; a new connection is tried every time.

    There is no state to lose when Rasa restarts: each message is one request, so the
    bridge "reconnects" simply by trying again on the next message.
    """

    def __init__(self, rasa_url: str, timeout: float = 30.0) -> None:
        self.url = f"{rasa_url.rstrip('/')}/webhooks/rest/webhook"
        self._client = httpx.AsyncClient(timeout=httpx.Timeout(timeout, connect=5.0))

    async def send(self, sender: str, text: str) -> list[dict[str, Any]]:
        """The replies to `text` from `sender`; raises RasaUnavailable when there are none.

        An empty reply list means the action server failed (Rasa swallows that error),
        so it counts as unavailable too: a person is never left without an answer.
        """
        try:
            resp = await self._client.post(self.url, json={"sender": sender, "message": text})
        except httpx.HTTPError as exc:
            raise RasaUnavailable(f"{type(exc).__name__}: {exc}") from exc
        if resp.status_code != 200:
            raise RasaUnavailable(f"HTTP {resp.status_code}")
        try:
            replies = resp.json()
        except ValueError as exc:
            raise RasaUnavailable("reply is not JSON") from exc
        if not isinstance(replies, list) or not replies:
            raise RasaUnavailable("no reply (is the action server running?)")
        return [r for r in replies if isinstance(r, dict)]

    async def close(self) -> None:
        await self._client.aclose()
