"""Poison-update screening: `ScreeningRequest`, the getUpdates connection of bot/app.py.

A malformed update from Telegram (one python-telegram-bot cannot read) would make the
poller fetch it again forever; `ScreeningRequest` replaces it by an empty update with the
same id, so it is logged once and skipped, and the next message is answered at once.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from telegram import Update
from telegram.request import BaseRequest, RequestData

from common.logs import mask

log = logging.getLogger(__name__)

MAX_REMEMBERED_POISON = 1000


class ScreeningRequest(BaseRequest):
    """A Bot API connection that hands getUpdates only updates python-telegram-bot can read.

    Any other is replaced by `{"update_id": …}` (an update no handler matches), logged once
    (masked, cut), so the poller's offset moves past it instead of fetching it forever.
    """

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner
        self._seen: dict[str, None] = {}

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        code, payload = await self.inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if code == 200 and url.rstrip("/").endswith("/getUpdates"):
            payload = self.screen(payload)
        return code, payload

    def screen(self, payload: bytes) -> bytes:
        """The getUpdates answer with every unreadable update replaced (or the answer as it was)."""
        try:
            data = json.loads(payload)
        except ValueError:
            return payload
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list):
            return payload
        kept: list[Any] = []
        changed = False
        for raw in result:
            try:
                if not isinstance(raw, dict):
                    raise TypeError("an update must be an object")
                Update.de_json(raw, None)
                kept.append(raw)
                continue
            except Exception as exc:  # anything python-telegram-bot cannot read
                changed = True
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                self._log_once(raw, update_id, exc)
                if isinstance(update_id, int) and not isinstance(update_id, bool):
                    kept.append({"update_id": update_id})
        if not changed:
            return payload
        return json.dumps({**data, "result": kept}).encode()

    def _log_once(self, raw: Any, update_id: Any, exc: Exception) -> None:
        text = json.dumps(raw, ensure_ascii=False, default=str)
        digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
        if digest in self._seen:
            return
        self._seen[digest] = None
        while len(self._seen) > MAX_REMEMBERED_POISON:
            self._seen.pop(next(iter(self._seen)))
        log.error(
            "skipped an update python-telegram-bot cannot read (update_id %r, %s: %s): %s",
            update_id,
            type(exc).__name__,
            mask(str(exc))[:200],
            mask(text[:300]),
        )
