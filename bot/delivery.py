"""The outbox deliverer: an asyncio task that sends what tickets/ queued for Telegram.

Every ~1 s (or at once when woken) it claims the oldest due row (`store.outbox.claim_next`,
a lease: several bridges never send one row at once), sends it, and marks it
`delivered(...)` with an audit event only when Telegram confirmed it. The queue is the
database, so a restart (even SIGKILL) loses nothing: an undelivered row is due again once
its lease has run out.

What Telegram answers decides what happens next:
- 5xx, connection errors: tried again later, with exponential backoff and jitter (at most
  MAX_BACKOFF_SECONDS apart), forever; the pass ends (Telegram is probably down).
- 429 flood control: nothing more is sent before what Telegram asked (`retry_after`).
- A timeout: the message may have arrived (Telegram often applies a request it answers
  late). The attempt is counted as uncertain; the row is sent once more only after a
  probe (a "typing…" action in that chat) answers in time, and a row that timed out twice is not sent a third
  time: staff are told to check (README: at most two copies of a message).
- 403 from a resident (blocked the bot): recorded once, staff told, not retried. A staff
  message refused as malformed is given up after MAX_BAD_REQUEST_ATTEMPTS.
- A row still unsent after OUTBOX_ALERT_MINUTES is reported to the staff group once (and
  logged); it keeps being retried.

One sender per `OutboxKind` (tickets/outbox.py; staff_voice is queued here after a card
whose ticket has audio). Residents are found from the ticket's sender id `tg:<chat>:<user>`;
other senders (the terminal chat's "local-…") have no Telegram chat and are marked done
with an event saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

from telegram import ReplyParameters
from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.cards import card_markup, card_text
from bot.conversation import expect_from_resident
from bot.outgoing import send_texts
from bot.runtime import parse_sender
from bot.speaking import current_rate, listener_of, speak, voice_enabled
from common.texts import say
from tickets.leases import new_owner, owner_is_dead
from tickets.outbox import LEASE_SECONDS, OutboxKind, OutboxRow
from tickets.store import Ticket, TicketError, TicketStore
from tickets.views import local_time

if TYPE_CHECKING:
    from bot.context import BridgeApplication

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
RENOTIFY_CHECK_SECONDS = 60.0
OVERDUE_CHECK_SECONDS = 60.0
RECLAIM_CHECK_SECONDS = 10.0
MAX_BACKOFF_SECONDS = 60.0
NO_STAFF_BACKOFF_SECONDS = 300.0
# A staff message Telegram keeps refusing as malformed is given up after this many tries.
MAX_BAD_REQUEST_ATTEMPTS = 8
# A message whose attempts timed out this often is not sent again (it may have arrived each time).
MAX_UNCERTAIN = 2
# Kinds whose sending creates a message (a resend after a timeout could double it); edits do not.
CREATES_MESSAGE = frozenset(OutboxKind) - {OutboxKind.STAFF_CARD_UPDATE}

Row = OutboxRow


def backoff(attempts: int, cap: float = MAX_BACKOFF_SECONDS) -> float:
    """Seconds before attempt `attempts + 1`: 2, 4, 8 … capped at `cap`, times 0.5–1 (jitter)."""
    return min(cap, 2.0 ** min(attempts + 1, 16)) * random.uniform(0.5, 1.0)


class Deliverer:
    """Sends due outbox rows through the application's bot, one claimed row at a time."""

    def __init__(self, app: BridgeApplication) -> None:
        self.app = app
        self.store: TicketStore = app.bridge.store
        self.outbox = self.store.outbox
        self.cfg = app.bridge.cfg
        self.owner = new_owner()
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._warned_no_staff = False
        self._next_renotify = 0.0
        self._next_overdue = 0.0
        self._next_reclaim = 0.0
        self._paused_until = 0.0  # flood control: Telegram asked every sender of this bot to wait
        self.senders: dict[OutboxKind, Callable[[Row, Ticket | None], Awaitable[None]]] = {
            OutboxKind.STAFF_CARD: self._staff_card,
            OutboxKind.STAFF_CARD_UPDATE: self._staff_card_update,
            OutboxKind.STAFF_NOTE: self._staff_note,
            OutboxKind.STAFF_RENOTIFY: self._staff_renotify,
            OutboxKind.STAFF_VOICE: self._staff_voice,
            OutboxKind.STAFF_ALERT: self._staff_alert,
            OutboxKind.RESIDENT_TICKET_CREATED: self._resident_ticket_created,
            OutboxKind.RESIDENT_MESSAGE: self._resident_message,
            OutboxKind.RESIDENT_CLOSED: self._resident_closed,
        }

    # -- lifecycle ------------------------------------------------------------------------
    def start(self) -> None:
        """Start the loop (a plain asyncio task: PTB's JobQueue is not used)."""
        if self._task is None:
            self._stopping = False
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
            except Exception:  # the loop must outlive any one failure (a database restarting …)
                log.exception("outbox pass failed; trying again")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), TICK_SECONDS)

    # -- one pass ---------------------------------------------------------------------------
    async def run_once(self) -> None:
        """Queue due reminders and alerts, then send every due row (stop early if Telegram is down)."""
        await self._maybe_renotify()
        await self._maybe_alert_overdue()
        await self._maybe_reclaim()
        while not self._stopping and asyncio.get_running_loop().time() >= self._paused_until:
            row = await asyncio.to_thread(self.outbox.claim_next, self.owner, LEASE_SECONDS)
            if row is None:
                return
            try:
                delivering = await self._deliver(row)
            except BaseException:
                with contextlib.suppress(Exception):
                    await asyncio.to_thread(self.outbox.release, row.id, self.owner)
                raise
            if not delivering:
                return

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

    async def _maybe_reclaim(self) -> None:
        """Free rows claimed by a deliverer on this host that died holding them (SIGKILL)."""
        now = asyncio.get_running_loop().time()
        if now < self._next_reclaim:
            return
        self._next_reclaim = now + RECLAIM_CHECK_SECONDS
        freed = await asyncio.to_thread(self.outbox.reclaim_dead, owner_is_dead)
        if freed:
            log.warning("took over %d outbox row(s) from a deliverer that died", freed)

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

    async def _failed(self, row: Row, error: str, delay: float) -> None:
        await asyncio.to_thread(self.outbox.failed, row.id, error, delay)

    async def _probe(self, chat_id: int | None) -> bool:
        """Does the Bot API answer in time right now, for this chat? (before resending a row
        that timed out: a "typing…" action, the same kind of call as the send, harmless)"""
        try:
            if chat_id is None:
                await self.app.bot.get_me(read_timeout=self.cfg.telegram_timeout)
            else:
                await self.app.bot.send_chat_action(chat_id, ChatAction.TYPING, read_timeout=self.cfg.telegram_timeout)
            return True
        except (Forbidden, BadRequest):
            return True  # the chat itself refuses: the send will say so
        except TelegramError as exc:
            log.info("Bot API probe failed (%s); the uncertain message waits", exc)
            return False

    def _chat_of(self, kind: OutboxKind, ticket: Ticket | None) -> int | None:
        if kind.to_staff:
            return self.cfg.staff_chat_id
        target = parse_sender(ticket.sender_id) if ticket else None
        return target[0] if target else None

    async def _deliver(self, row: Row) -> bool:
        """Send one claimed row; False when Telegram seems unreachable (end this pass)."""
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
        ticket: Ticket | None = None
        if row.ticket_id is not None:
            try:
                ticket = await asyncio.to_thread(self.store.get_by_id, row.ticket_id)
            except TicketError:
                log.error("outbox row %s: ticket %s does not exist; dropped", row.id, row.ticket_id)
                await asyncio.to_thread(self.outbox.delivered, row.id)
                return True
        elif kind is not OutboxKind.STAFF_ALERT:
            log.error("outbox row %s (%s) names no ticket; dropped", row.id, kind)
            await asyncio.to_thread(self.outbox.delivered, row.id)
            return True
        number = ticket.number if ticket else "-"
        creates = kind in CREATES_MESSAGE
        if creates and row.uncertain >= MAX_UNCERTAIN:
            await self._give_up_uncertain(row, ticket, kind)
            return True
        if creates and row.uncertain and not await self._probe(self._chat_of(kind, ticket)):
            await self._failed(row, "Bot API still not answering in time", backoff(row.attempts))
            return False
        try:
            await sender(row, ticket)
        except RetryAfter as exc:  # flood control: wait what Telegram asked
            wait = exc.retry_after if isinstance(exc.retry_after, int | float) else exc.retry_after.total_seconds()
            log.warning("%s for %s: flood control, retry after %.0f s", kind, number, wait)
            self._paused_until = asyncio.get_running_loop().time() + wait
            await self._failed(row, f"RetryAfter: {wait:.0f} s", wait + random.uniform(0.1, 1.0))
            return False
        except TimedOut as exc:
            if creates:
                log.warning("%s for %s timed out (it may have arrived); resent at most once", kind, number)
                await asyncio.to_thread(self.outbox.uncertain, row.id, f"TimedOut: {exc}", backoff(row.attempts))
            else:
                await self._failed(row, f"TimedOut: {exc}", backoff(row.attempts))
            return False
        except NetworkError as exc:  # 5xx, connection refused or reset
            log.warning("%s for %s not sent (%s); will retry", kind, number, exc)
            await self._failed(row, f"{type(exc).__name__}: {exc}", backoff(row.attempts))
            return False
        except (Forbidden, BadRequest) as exc:
            await self._refused(row, ticket, staff, exc)
        except TelegramError as exc:
            log.warning("%s for %s not sent (%s); will retry", kind, number, exc)
            await self._failed(row, f"{type(exc).__name__}: {exc}", backoff(row.attempts))
        except Exception as exc:  # a bug or a database error: back off, do not spin
            log.exception("%s for %s failed; will retry", kind, number)
            await self._failed(row, f"{type(exc).__name__}: {exc}", NO_STAFF_BACKOFF_SECONDS)
        return True

    async def _give_up_uncertain(self, row: Row, ticket: Ticket | None, kind: OutboxKind) -> None:
        """Two attempts timed out: do not risk a third copy; tell staff to check."""
        number = ticket.number if ticket else "-"
        log.error("%s for %s timed out %d times; not sent again (it may have arrived)", kind, number, row.uncertain)
        ticket_id = ticket.id if ticket else None
        await asyncio.to_thread(self.outbox.delivered, row.id, ticket_id, "delivery_uncertain")
        if ticket is not None and kind is not OutboxKind.STAFF_ALERT:
            await asyncio.to_thread(self.outbox.alert, "utter_staff_alert_uncertain", ticket=ticket.number)

    async def _refused(self, row: Row, ticket: Ticket | None, staff: bool, exc: TelegramError) -> None:
        """Telegram said no for good (blocked, chat not found, bad request)."""
        error = f"{type(exc).__name__}: {exc}"
        number = ticket.number if ticket else "-"
        ticket_id = ticket.id if ticket else None
        if not staff and ticket is not None:
            log.warning("resident of %s unreachable (%s); not retried", number, exc)
            await asyncio.to_thread(self.outbox.delivered, row.id, ticket_id, "resident_unreachable")
            if self.cfg.staff_chat_id is not None:
                with contextlib.suppress(TelegramError):
                    text = say("utter_staff_resident_unreachable", ticket=number)
                    await self.app.bot.send_message(self.cfg.staff_chat_id, text)
            return
        if isinstance(exc, BadRequest) and row.attempts + 1 >= MAX_BAD_REQUEST_ATTEMPTS:
            log.error("%s for %s refused %d times (%s); given up", row.kind, number, row.attempts + 1, exc)
            await asyncio.to_thread(self.outbox.delivered, row.id, ticket_id, "delivery_failed")
            return
        log.error("staff chat refused %s for %s (%s): check STAFF_CHAT_ID", row.kind, number, exc)
        await self._failed(row, error, NO_STAFF_BACKOFF_SECONDS)

    # -- staff ------------------------------------------------------------------------------
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

    # -- residents ----------------------------------------------------------------------------
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
