"""The outbox deliverer's resident side (`ResidentSide`, a mixin of bot/delivery.py's `Deliverer`).

One sender per resident `OutboxKind`: the ticket number, staff replies and questions, the
ticket closed; as text, and as a voice note for those who turned speech on. Residents are
found from the ticket's sender id `tg:<chat>:<user>`; other senders (the terminal chat's
"local-…") have no Telegram chat and are marked done with an event saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import TYPE_CHECKING

from telegram.error import TelegramError

from bot.conversation import expect_from_resident
from bot.outgoing import send_texts
from bot.runtime import parse_sender
from bot.speaking import current_rate, listener_of, speak, voice_enabled
from common.texts import say
from tickets.outbox import OutboxRow as Row
from tickets.store import Ticket

if TYPE_CHECKING:
    from bot.context import BridgeApplication
    from common.config import Settings
    from tickets.outbox import Outbox

log = logging.getLogger(__name__)


class ResidentSide:
    """What goes to residents' private chats; the `Deliverer` provides the attributes."""

    app: BridgeApplication
    cfg: Settings
    outbox: Outbox

    async def _to_resident(self, row: Row, ticket: Ticket, text: str, event: str) -> None:
        target = parse_sender(ticket.sender_id)
        if target is None:
            await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "no_telegram_chat")
            return
        chat_id, user_id = target
        await send_texts(self.app.bot, chat_id, [text], retry_for=0)
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, event)
        log.info("%s for %s delivered to the resident", row.kind, ticket.number)
        user_data = self.app.user_data.get(user_id)
        if voice_enabled(user_data):
            with contextlib.suppress(TelegramError):  # the text arrived; the voice note is extra
                rate = current_rate(user_data, self.cfg.tts_rate)
                await speak(self.app.bot, chat_id, text, rate, listener=listener_of(user_data))

    async def _resident_ticket_created(self, row: Row, ticket: Ticket | None) -> None:
        assert ticket is not None
        text = say("utter_ticket_created", ticket=ticket.number)
        await self._to_resident(row, ticket, text, "resident_told_number")

    async def _resident_message(self, row: Row, ticket: Ticket | None) -> None:
        assert ticket is not None
        question = bool(row.payload.get("question"))
        name = "utter_bot_staff_question" if question else "utter_bot_staff_reply"
        text = say(name, ticket=ticket.number, text=row.payload.get("text", ""))
        await self._to_resident(row, ticket, text, "delivered_to_resident")
        # The resident's next message is about this: an answer (to a question) goes back to
        # the card; after a plain reply it is offered to staff (bot/conversation.py).
        target = parse_sender(ticket.sender_id)
        if target is not None:
            expect_from_resident(self.app, target[1], ticket.number, question)

    async def _resident_closed(self, row: Row, ticket: Ticket | None) -> None:
        assert ticket is not None
        text = say("utter_bot_ticket_closed", ticket=ticket.number)
        await self._to_resident(row, ticket, text, "resident_told_closed")
