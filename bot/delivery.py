"""The outbox deliverer: an asyncio task that sends what tickets/ queued for Telegram.

Every ~1 s (or at once when woken): `store.outbox.due()` rows → send → `delivered(...)` with
an audit event, or `failed(...)` (exponential backoff). The queue is the database,
so a restart (even SIGKILL) loses nothing: an undelivered row is simply due again.
Delivery is at least once: a request that times out after Telegram accepted it can be
sent a second time (Telegram offers no way to ask), so timeouts are generous.

One sender per `OutboxKind` (tickets/outbox.py; staff_voice is queued here after a card
whose ticket has audio). Residents
are found from the ticket's sender id `tg:<chat>:<user>`; other senders (the terminal
chat's "local-…") have no Telegram chat and are marked done with an event saying so. A
resident who blocked the bot (403) is recorded once and not retried.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from telegram import ReplyParameters
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError

from bot.cards import card_markup, card_text
from bot.conversation import expect_from_resident
from bot.outgoing import send_texts
from bot.runtime import parse_sender
from bot.speaking import current_rate, speak, voice_enabled
from common.texts import say
from tickets.outbox import OutboxKind, OutboxRow
from tickets.store import Ticket, TicketError, TicketStore
from tickets.views import local_time

if TYPE_CHECKING:
    from bot.context import BridgeApplication

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
RENOTIFY_CHECK_SECONDS = 60.0
MAX_BACKOFF_SECONDS = 60.0
NO_STAFF_BACKOFF_SECONDS = 300.0
# A staff message Telegram keeps refusing as malformed is given up after this many tries.
MAX_BAD_REQUEST_ATTEMPTS = 8

Row = OutboxRow


class Deliverer:
    """Sends due outbox rows through the application's bot, one row at a time."""

    def __init__(self, app: BridgeApplication) -> None:
        self.app = app
        self.store: TicketStore = app.bridge.store
        self.outbox = self.store.outbox
        self.cfg = app.bridge.cfg
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._warned_no_staff = False
        self._next_renotify = 0.0
        self.senders: dict[OutboxKind, Callable[[Row, Ticket], Awaitable[None]]] = {
            OutboxKind.STAFF_CARD: self._staff_card,
            OutboxKind.STAFF_CARD_UPDATE: self._staff_card_update,
            OutboxKind.STAFF_NOTE: self._staff_note,
            OutboxKind.STAFF_RENOTIFY: self._staff_renotify,
            OutboxKind.STAFF_VOICE: self._staff_voice,
            OutboxKind.RESIDENT_MESSAGE: self._resident_message,
            OutboxKind.RESIDENT_CLOSED: self._resident_closed,
        }

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop (a plain asyncio task: PTB's JobQueue is not used)."""
        if self._task is None:
            self._task = asyncio.create_task(self._loop(), name="outbox-deliverer")

    async def stop(self, grace: float = 10.0) -> None:
        """Let the row in flight finish (so it is marked), then end; cancel after `grace` s."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace)
        except TimeoutError:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    def wake(self) -> None:
        self._wake.set()

    async def _loop(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                await self.run_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the loop must outlive any one failure
                log.exception("outbox pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS)

    # -- one pass ---------------------------------------------------------------------------
    async def run_once(self) -> None:
        """Queue due reminders, then send every due row (stop early if Telegram is down)."""
        await self._maybe_renotify()
        for row in await asyncio.to_thread(self.outbox.due):
            if self._stopping or not await self._deliver(row):
                break

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

    async def _failed(self, row: Row, error: str, max_delay: float = MAX_BACKOFF_SECONDS) -> None:
        await asyncio.to_thread(self.outbox.failed, row.id, error, max_delay)

    async def _deliver(self, row: Row) -> bool:
        """Send one row; False when Telegram seems unreachable (end this pass)."""
        kind = row.known_kind
        sender = self.senders.get(kind) if kind is not None else None
        if kind is None or sender is None:
            log.error("outbox row %s has unknown kind %r; left queued", row.id, row.kind)
            await self._failed(row, f"unknown kind {row.kind!r}", NO_STAFF_BACKOFF_SECONDS)
            return True
        staff = kind.to_staff
        if staff and self.cfg.staff_chat_id is None:
            if not self._warned_no_staff:
                log.warning("STAFF_CHAT_ID is not set: staff notifications stay queued until it is")
                self._warned_no_staff = True
            await self._failed(row, "STAFF_CHAT_ID is not set", NO_STAFF_BACKOFF_SECONDS)
            return True
        try:
            ticket = await asyncio.to_thread(self.store.get_by_id, row.ticket_id)
        except TicketError:
            log.error("outbox row %s: ticket %s does not exist; dropped", row.id, row.ticket_id)
            await asyncio.to_thread(self.outbox.delivered, row.id)
            return True
        try:
            await sender(row, ticket)
        except (RetryAfter, NetworkError) as exc:  # 5xx, timeouts, flood control: later
            log.warning("%s for %s not sent (%s); will retry", kind, ticket.number, exc)
            await self._failed(row, f"{type(exc).__name__}: {exc}")
            return False
        except (Forbidden, BadRequest) as exc:
            await self._refused(row, ticket, staff, exc)
        except TelegramError as exc:
            log.warning("%s for %s not sent (%s); will retry", kind, ticket.number, exc)
            await self._failed(row, f"{type(exc).__name__}: {exc}")
        except Exception as exc:  # a bug or a database error: back off, do not spin
            log.exception("%s for %s failed; will retry", kind, ticket.number)
            await self._failed(row, f"{type(exc).__name__}: {exc}", NO_STAFF_BACKOFF_SECONDS)
        return True

    async def _refused(self, row: Row, ticket: Ticket, staff: bool, exc: TelegramError) -> None:
        """Telegram said no for good (blocked, chat not found, bad request)."""
        error = f"{type(exc).__name__}: {exc}"
        if not staff:
            log.warning("resident of %s unreachable (%s); not retried", ticket.number, exc)
            await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "resident_unreachable")
            if self.cfg.staff_chat_id is not None:
                with contextlib.suppress(TelegramError):
                    text = say("utter_staff_resident_unreachable", ticket=ticket.number)
                    await self.app.bot.send_message(self.cfg.staff_chat_id, text)
            return
        if isinstance(exc, BadRequest) and row.attempts + 1 >= MAX_BAD_REQUEST_ATTEMPTS:
            log.error("%s for %s refused %d times (%s); given up", row.kind, ticket.number, row.attempts + 1, exc)
            await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "delivery_failed")
            return
        log.error("staff chat refused %s for %s (%s): check STAFF_CHAT_ID", row.kind, ticket.number, exc)
        await self._failed(row, error, NO_STAFF_BACKOFF_SECONDS)

    # -- staff ------------------------------------------------------------------------------
    def _reply_to_card(self, ticket: Ticket) -> ReplyParameters | None:
        cards = [m for c, m in self.store.cards.of_ticket(ticket.id) if c == str(self.cfg.staff_chat_id)]
        return ReplyParameters(max(cards), allow_sending_without_reply=True) if cards else None

    async def _staff_card(self, row: Row, ticket: Ticket) -> None:
        chat = self.cfg.staff_chat_id
        message = await self.app.bot.send_message(chat, card_text(ticket), reply_markup=card_markup(ticket))
        await asyncio.to_thread(self.store.cards.remember, str(chat), message.message_id, ticket.id)
        # The resident's audio follows the card, as a reply to it (its own outbox row).
        voice = ((OutboxKind.STAFF_VOICE, {"reply_to": message.message_id}),) if ticket.audio_file else ()
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "notified_staff", voice)
        log.info("card for %s sent to the staff group", ticket.number)

    async def _staff_voice(self, row: Row, ticket: Ticket) -> None:
        reply_to = row.payload.get("reply_to")
        await self.app.bot.send_voice(
            self.cfg.staff_chat_id,
            voice=ticket.audio_file,
            caption=say("utter_staff_voice_card", ticket=ticket.number),
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
        )
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "notified_staff_voice")

    async def _staff_card_update(self, row: Row, ticket: Ticket) -> None:
        for chat, message_id in await asyncio.to_thread(self.store.cards.of_ticket, ticket.id):
            try:
                await self.app.bot.edit_message_text(
                    card_text(ticket), chat_id=int(chat), message_id=message_id, reply_markup=card_markup(ticket)
                )
            except BadRequest as exc:
                if "not modified" not in str(exc).lower():
                    log.warning("card %s of %s not updated: %s", message_id, ticket.number, exc)
        await asyncio.to_thread(self.outbox.delivered, row.id)

    async def _staff_text(self, row: Row, ticket: Ticket, text: str, event: str) -> None:
        reply = await asyncio.to_thread(self._reply_to_card, ticket)
        await self.app.bot.send_message(self.cfg.staff_chat_id, text, reply_parameters=reply)
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, event)

    async def _staff_note(self, row: Row, ticket: Ticket) -> None:
        """What a resident added, as a reply to the card, with its time (voice and photos as such)."""
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

    async def _staff_renotify(self, row: Row, ticket: Ticket) -> None:
        if ticket.state != "new":  # claimed in the meantime: no reminder needed
            await asyncio.to_thread(self.outbox.delivered, row.id)
            return
        minutes = row.payload.get("minutes", self.cfg.renotify_minutes)
        text = say("utter_staff_renotify", ticket=ticket.number, minutes=minutes)
        if ticket.urgent:
            text = say("utter_staff_urgent_mark") + text
        await self._staff_text(row, ticket, text, "renotified_staff")

    # -- residents ----------------------------------------------------------------------------
    async def _to_resident(self, row: Row, ticket: Ticket, text: str, event: str) -> None:
        target = parse_sender(ticket.sender_id)
        if target is None:
            await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, "no_telegram_chat")
            return
        chat_id, user_id = target
        await send_texts(self.app.bot, chat_id, [text])
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket.id, event)
        log.info("%s for %s delivered to the resident", row.kind, ticket.number)
        user_data = self.app.user_data.get(user_id)
        if voice_enabled(user_data):
            await speak(self.app.bot, chat_id, text, current_rate(user_data, self.cfg.tts_rate))

    async def _resident_message(self, row: Row, ticket: Ticket) -> None:
        question = bool(row.payload.get("question"))
        name = "utter_bot_staff_question" if question else "utter_bot_staff_reply"
        text = say(name, ticket=ticket.number, text=row.payload.get("text", ""))
        await self._to_resident(row, ticket, text, "delivered_to_resident")
        # The resident's next message is about this: an answer (to a question) goes back to
        # the card; after a plain reply it is offered to staff (bot/conversation.py).
        target = parse_sender(ticket.sender_id)
        if target is not None:
            expect_from_resident(self.app, target[1], ticket.number, question)

    async def _resident_closed(self, row: Row, ticket: Ticket) -> None:
        text = say("utter_bot_ticket_closed", ticket=ticket.number)
        await self._to_resident(row, ticket, text, "resident_told_closed")
