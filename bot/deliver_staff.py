"""The outbox deliverer's staff side (`StaffSide`, a mixin of bot/delivery.py's `Deliverer`).

Once a minute it queues reminders of unclaimed tickets (RENOTIFY_MINUTES) and one alert for
rows unsent over OUTBOX_ALERT_MINUTES. Then one sender per staff `OutboxKind`, all to the
staff group: the card (and, when the ticket has audio, a staff_voice row queued here, sent
as a reply to it), card updates, what a resident added, reminders, alerts.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any

from telegram import ReplyParameters
from telegram.error import BadRequest

from bot.cards import card_markup, card_text
from common.texts import say
from tickets.outbox import OutboxKind
from tickets.outbox import OutboxRow as Row
from tickets.store import Ticket, TicketError, TicketStore
from tickets.views import local_time

if TYPE_CHECKING:
    from bot.context import BridgeApplication
    from common.config import Settings
    from tickets.outbox import Outbox

log = logging.getLogger(__name__)

RENOTIFY_CHECK_SECONDS = 60.0
OVERDUE_CHECK_SECONDS = 60.0


class StaffSide:
    """What goes to the staff group (`STAFF_CHAT_ID`); the `Deliverer` provides the attributes."""

    app: BridgeApplication
    cfg: Settings
    store: TicketStore
    outbox: Outbox
    _next_renotify: float
    _next_overdue: float

    # -- queued every minute ------------------------------------------------------------------
    async def _maybe_renotify(self) -> None:
        minutes = self.cfg.renotify_minutes
        urgent = self.cfg.urgent_renotify_minutes
        now = asyncio.get_running_loop().time()
        if minutes <= 0 or self.cfg.staff_chat_id is None or now < self._next_renotify:
            return
        self._next_renotify = now + min(RENOTIFY_CHECK_SECONDS, min(minutes, urgent) * 60.0)
        due = await asyncio.to_thread(self.store.renotify_due, minutes, urgent)
        if due:
            log.info("reminding staff of %d unclaimed ticket(s)", len(due))

    async def _maybe_alert_overdue(self) -> None:
        now = asyncio.get_running_loop().time()
        if now < self._next_overdue:
            return
        self._next_overdue = now + OVERDUE_CHECK_SECONDS
        minutes = self.cfg.outbox_alert_minutes
        overdue = await asyncio.to_thread(self.outbox.mark_overdue, minutes)
        if not overdue:
            return
        numbers = []
        for row in overdue:
            if row.ticket_id is not None:
                with contextlib.suppress(TicketError):
                    numbers.append((await asyncio.to_thread(self.store.get_by_id, row.ticket_id)).number)
        shown = "、".join(sorted(set(numbers))[:10]) or "-"
        log.error("%d outbox message(s) unsent for over %d minutes (%s); still retrying", len(overdue), minutes, shown)
        await asyncio.to_thread(
            self.outbox.alert, "utter_staff_alert_overdue", count=len(overdue), minutes=minutes, tickets=shown
        )

    # -- senders ------------------------------------------------------------------------------
    def _reply_to_card(self, ticket: Ticket) -> ReplyParameters | None:
        cards = [m for c, m in self.store.cards.of_ticket(ticket.id) if c == str(self.cfg.staff_chat_id)]
        return ReplyParameters(max(cards), allow_sending_without_reply=True) if cards else None

    async def _staff_card(self, row: Row, ticket: Ticket | None) -> None:
        assert ticket is not None
        chat = self.cfg.staff_chat_id
        message = await self.app.bot.send_message(chat, card_text(ticket), reply_markup=card_markup(ticket))
        await asyncio.to_thread(self.store.cards.remember, str(chat), message.message_id, ticket.id)
        # The resident's audio follows the card, as a reply to it (its own outbox row).
        voice = ((OutboxKind.STAFF_VOICE, {"reply_to": message.message_id}),) if ticket.audio_file else ()
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "notified_staff", voice)
        log.info("card for %s sent to the staff group", ticket.number)

    async def _staff_voice(self, row: Row, ticket: Ticket | None) -> None:
        assert ticket is not None
        reply_to = row.payload.get("reply_to")
        await self.app.bot.send_voice(
            self.cfg.staff_chat_id,
            voice=ticket.audio_file,
            caption=say("utter_staff_voice_card", ticket=ticket.number),
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
        )
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "notified_staff_voice")

    async def _staff_card_update(self, row: Row, ticket: Ticket | None) -> None:
        assert ticket is not None
        for chat, message_id in await asyncio.to_thread(self.store.cards.of_ticket, ticket.id):
            try:
                await self.app.bot.edit_message_text(
                    card_text(ticket),
                    chat_id=int(chat),
                    message_id=message_id,
                    reply_markup=card_markup(ticket),
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    log.warning("card %s of %s not updated: %s", message_id, ticket.number, exc)
        await asyncio.to_thread(self.outbox.delivered, row.id)

    async def _staff_text(self, row: Row, ticket: Ticket, text: str, event: str) -> None:
        reply = await asyncio.to_thread(self._reply_to_card, ticket)
        await self.app.bot.send_message(self.cfg.staff_chat_id, text, reply_parameters=reply)
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, event)

    async def _staff_note(self, row: Row, ticket: Ticket | None) -> None:
        """What a resident added, as a reply to the card, with its time (voice and photos as such)."""
        assert ticket is not None
        p = row.payload
        at = p.get("at")
        when = local_time(datetime.fromisoformat(at)) if at else local_time(row.created_at)
        kind, file_id, text = p.get("media", "text"), p.get("file_id"), p.get("text", "")
        mark = say("utter_staff_urgent_mark") if p.get("urgent") else ""
        reply = await asyncio.to_thread(self._reply_to_card, ticket)
        chat = self.cfg.staff_chat_id
        if kind == "voice" and file_id:
            caption = mark + say("utter_staff_note_voice", ticket=ticket.number, when=when, text=text)
            await self.app.bot.send_voice(chat, voice=file_id, caption=caption[:1000], reply_parameters=reply)
        elif kind == "photo" and file_id:
            caption = mark + say("utter_staff_note_photo", ticket=ticket.number, when=when, text=text)
            await self.app.bot.send_photo(chat, photo=file_id, caption=caption[:1000], reply_parameters=reply)
        else:
            how = say(f"utter_staff_how_{p.get('via') or 'note'}")
            note = mark + say("utter_staff_note", how=how, ticket=ticket.number, when=when, text=text)
            await self.app.bot.send_message(chat, note, reply_parameters=reply)
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "notified_staff")

    async def _staff_renotify(self, row: Row, ticket: Ticket | None) -> None:
        assert ticket is not None
        if ticket.state != "new":  # claimed in the meantime: no reminder needed
            await asyncio.to_thread(self.outbox.delivered, row.id)
            return
        minutes = row.payload.get("minutes", self.cfg.renotify_minutes)
        text = say("utter_staff_renotify", ticket=ticket.number, minutes=minutes)
        if ticket.urgent:
            text = say("utter_staff_urgent_mark") + text
        await self._staff_text(row, ticket, text, "renotified_staff")

    async def _staff_alert(self, row: Row, ticket: Ticket | None) -> None:
        values: dict[str, Any] = row.payload.get("values") or {}
        try:
            text = say(str(row.payload.get("key")), **values)
        except (KeyError, IndexError, ValueError):
            log.error("outbox alert %s has an unknown text %r; dropped", row.id, row.payload.get("key"))
            await asyncio.to_thread(self.outbox.delivered, row.id)
            return
        await self.app.bot.send_message(self.cfg.staff_chat_id, text)
        await asyncio.to_thread(self.outbox.delivered, row.id)
