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

One sender per `OutboxKind` (tickets/outbox.py), all named in `Deliverer.senders`: the
staff group's in bot/deliver_staff.py (with the reminders and overdue alerts queued every
minute), residents' in bot/deliver_resident.py; both are mixins of `Deliverer`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from telegram.constants import ChatAction
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.deliver_resident import ResidentSide
from bot.deliver_staff import StaffSide
from bot.runtime import parse_sender
from common.texts import say
from tickets.leases import new_owner, owner_is_dead
from tickets.outbox import LEASE_SECONDS, OutboxKind, OutboxRow
from tickets.store import Ticket, TicketError, TicketStore

if TYPE_CHECKING:
    from bot.context import BridgeApplication

log = logging.getLogger(__name__)

TICK_SECONDS = 1.0
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


class Deliverer(StaffSide, ResidentSide):
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

    async def _maybe_reclaim(self) -> None:
        """Free rows claimed by a deliverer on this host that died holding them (SIGKILL)."""
        now = asyncio.get_running_loop().time()
        if now < self._next_reclaim:
            return
        self._next_reclaim = now + RECLAIM_CHECK_SECONDS
        freed = await asyncio.to_thread(self.outbox.reclaim_dead, owner_is_dead)
        if freed:
            log.warning("took over %d outbox row(s) from a deliverer that died", freed)

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
