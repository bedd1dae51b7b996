"""The order of updates: concurrent across chats, one at a time (in arrival order) within a
private chat, so a person's messages reach Rasa in the order they were sent.

This is python-telegram-bot's update-processor hook, so no handler needs to know about it.
`admit` runs first, when an update arrives and before it waits for its turn (the bridge's
per-person rate limit): an update it refuses is not processed at all. A message in a
private chat without a sender (Telegram never sends one; a forged or broken update) is
dropped here too: every handler may rely on there being a person.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import Update
from telegram.ext import BaseUpdateProcessor

Admit = Callable[[Update], Awaitable[bool]]
log = logging.getLogger(__name__)


class PrivateChatsInOrder(BaseUpdateProcessor):
    def __init__(self, max_concurrent_updates: int) -> None:
        super().__init__(max_concurrent_updates)
        self.admit: Admit | None = None
        self._locks: dict[int, asyncio.Lock] = {}

    async def do_process_update(self, update: object, coroutine: Awaitable[Any]) -> None:
        chat = update.effective_chat if isinstance(update, Update) else None
        private = chat is not None and chat.type == chat.PRIVATE
        if isinstance(update, Update) and private and update.effective_user is None:
            log.info("dropped update %s: a private message without a sender", update.update_id)
            if asyncio.iscoroutine(coroutine):
                coroutine.close()
            return
        if isinstance(update, Update) and self.admit is not None and not await self.admit(update):
            if asyncio.iscoroutine(coroutine):
                coroutine.close()  # refused: never processed
            return
        if chat is None or chat.type != chat.PRIVATE:
            await coroutine
            return
        async with self._locks.setdefault(chat.id, asyncio.Lock()):
            await coroutine

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass
