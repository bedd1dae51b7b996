"""Staff side: ticket cards with 认领 / 追问 / 已解决, replies to cards, and the staff-group commands.

A reply to a card (or to a resident's message under it, which names the ticket) reaches the
resident. A reply that ends in ？, or one to the prompt the 追问 button posts, is a question:
the ticket waits for the resident, whose answer comes back under the card (bot/conversation.py).

Only users in STAFF_USER_IDS may act; anyone else is refused politely and logged, and
nothing changes. Every state change goes through tickets.store, which queues the card
update and the resident's message in the outbox (bot.delivery sends them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from telegram import ForceReply, Message, ReplyParameters, Update, User
from telegram.ext import CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.cards import parse_button
from bot.context import BridgeApplication
from bot.context import BridgeContext as Context
from bot.outgoing import send_texts
from common.texts import say
from tickets import views
from tickets.numbers import NUMBER_RE, normalise_number
from tickets.report import ReportError, build_report, report_text, summary
from tickets.report_render import render_chart
from tickets.schema import utcnow
from tickets.store import Ticket, TicketError, TicketStore

log = logging.getLogger(__name__)

DEFAULT_REPORT_DAYS = 30
MAX_REPORT_DAYS = 366


# --------------------------------------------------------------------------- permission


def is_staff(context: Context, user: User | None) -> bool:
    return user is not None and user.id in context.bridge.cfg.staff_user_ids


async def refuse(update: Update, context: Context, what: str) -> None:
    """Tell a non-staff user politely that they may not act; log it."""
    user = update.effective_user
    log.warning("refused %s by user %s (not in STAFF_USER_IDS)", what, user.id if user else "?")
    if update.callback_query is not None:
        await update.callback_query.answer(say("utter_staff_not_allowed"), show_alert=True)
    elif update.effective_message is not None:
        await update.effective_message.reply_text(say("utter_staff_not_allowed"))


def staff_only(what: str) -> Callable[[Callable[[Update, Context], Awaitable[None]]], Any]:
    """Run the handler for staff; refuse everyone else."""

    def decorate(handler: Callable[[Update, Context], Awaitable[None]]) -> Callable[[Update, Context], Awaitable[None]]:
        @functools.wraps(handler)
        async def wrapper(update: Update, context: Context) -> None:
            if not is_staff(context, update.effective_user):
                await refuse(update, context, what)
                return
            await handler(update, context)

        return wrapper

    return decorate


# --------------------------------------------------------------------------- buttons


BUTTONS = {"claim": views.claim, "close": views.close}


@staff_only("a card button")
async def on_button(update: Update, context: Context) -> None:
    """认领 / 已解决 on a card: callback data "claim:XW-…" or "close:XW-…"."""
    query = update.callback_query
    parsed = parse_button(query.data)
    if parsed is None:
        log.warning("ignored callback data %r from user %s", (query.data or "")[:64], query.from_user.id)
        await query.answer(say("utter_staff_bad_button"), show_alert=True)
        return
    action, number = parsed
    b = context.bridge
    user = query.from_user
    card = query.message  # Telegram's own copy of the message the button was pressed on
    text = getattr(card, "text", None)
    if card is None or not await asyncio.to_thread(
        b.store.cards.pressed_on, str(card.chat.id), card.message_id, text, number
    ):
        log.warning("refused %s:%s from user %s: pressed on a message that is not its card", action, number, user.id)
        await query.answer(say("utter_staff_bad_button"), show_alert=True)
        return
    if action == "ask":
        await _ask_prompt(update, context, number)
        return
    try:
        text, alert = await asyncio.to_thread(BUTTONS[action], b.store, number, str(user.id), user.full_name)
    except TicketError:
        text, alert = say("utter_staff_ticket_unknown", ticket=number), True
    log.info("staff %s pressed %s on %s", user.id, action, number)
    b.wake_deliverer()
    await query.answer(text, show_alert=alert)


async def _ask_prompt(update: Update, context: Context, number: str) -> None:
    """追问: post a prompt that the staff member answers with the question (a reply to it)."""
    query = update.callback_query
    try:
        ticket = await asyncio.to_thread(context.bridge.store.get, number)
    except TicketError:
        await query.answer(say("utter_staff_ticket_unknown", ticket=number), show_alert=True)
        return
    if not ticket.is_open:
        await query.answer(say("utter_staff_reply_closed", ticket=number), show_alert=True)
        return
    chat_id = query.message.chat.id if query.message is not None else context.bridge.cfg.staff_chat_id
    await context.bot.send_message(
        chat_id,
        say("utter_staff_ask_prompt", ticket=number),
        reply_markup=ForceReply(selective=True),
        reply_parameters=ReplyParameters(query.message.message_id, allow_sending_without_reply=True)
        if query.message is not None
        else None,
    )
    await query.answer()


# --------------------------------------------------------------------------- replies to cards


def _ticket_of(store: TicketStore, chat_id: int, target: Message, bot_id: int) -> Ticket | None:
    """The ticket a replied-to message is about: a card, or a bot message naming one ticket."""
    ticket = store.cards.ticket_for(str(chat_id), target.message_id)
    if ticket is not None or target.from_user is None or target.from_user.id != bot_id:
        return ticket
    numbers = set(NUMBER_RE.findall(target.text or target.caption or ""))
    if len(numbers) != 1:
        return None
    try:
        return store.get(numbers.pop())
    except TicketError:
        return None


async def on_reply(update: Update, context: Context) -> None:
    """A staff member's reply to a card goes to the resident (through the outbox)."""
    message = update.message
    target = message.reply_to_message
    if target.from_user is None or target.from_user.id != context.bot.id:
        return  # people talking to each other in the group
    if not is_staff(context, message.from_user):
        await refuse(update, context, "a reply to a card")
        return
    b = context.bridge
    ticket = await asyncio.to_thread(_ticket_of, b.store, message.chat_id, target, context.bot.id)
    if ticket is None:
        await message.reply_text(say("utter_staff_reply_unknown"))
        return
    user = message.from_user
    text = message.text.strip()
    # A question: it ends in ？, or it answers the prompt of the 追问 button.
    question = True if (target.text or "") == say("utter_staff_ask_prompt", ticket=ticket.number) else None
    try:
        sent = await asyncio.to_thread(b.store.reply, ticket.number, str(user.id), user.full_name, text, question)
    except TicketError:
        await message.reply_text(say("utter_staff_reply_closed", ticket=ticket.number))
        return
    log.info("staff %s %s on %s", user.id, "asked" if sent.waiting_on == "resident" else "replied", ticket.number)
    b.wake_deliverer()
    done = "utter_staff_asked_sent" if sent.waiting_on == "resident" else "utter_staff_reply_sent"
    await message.reply_text(say(done, ticket=ticket.number))


# --------------------------------------------------------------------------- commands


async def _answer(update: Update, context: Context, text: str) -> None:
    await send_texts(context.bot, update.effective_chat.id, [text])


@staff_only("/open")
async def cmd_open(update: Update, context: Context) -> None:
    """/open: the tickets that are not closed."""
    await _answer(update, context, await asyncio.to_thread(views.open_list, context.bridge.store))


@staff_only("/ticket")
async def cmd_ticket(update: Update, context: Context) -> None:
    """/ticket XW-XXXXX: the ticket's audit trail and messages, with times."""
    raw = " ".join(context.args or []).strip()
    if not raw:
        await _answer(update, context, say("utter_staff_ticket_usage"))
        return
    number = normalise_number(raw)
    if not number:
        await _answer(update, context, say("utter_staff_bad_number", text=raw[:30]))
        return
    try:
        text = await asyncio.to_thread(views.ticket_text, context.bridge.store, number)
    except TicketError:
        text = say("utter_staff_ticket_unknown", ticket=number)
    await _answer(update, context, text)


@staff_only("/reopen")
async def cmd_reopen(update: Update, context: Context) -> None:
    """/reopen XW-XXXXX: a closed ticket back to new (a fresh card is sent)."""
    raw = " ".join(context.args or []).strip()
    number = normalise_number(raw)
    if not number:
        text = say("utter_staff_bad_number", text=raw[:30]) if raw else say("utter_staff_usage")
        await _answer(update, context, text)
        return
    b = context.bridge
    try:
        text = await asyncio.to_thread(views.reopen, b.store, number, str(update.effective_user.id))
    except TicketError:
        await _answer(update, context, say("utter_staff_ticket_unknown", ticket=number))
        return
    b.wake_deliverer()
    await _answer(update, context, text)


@staff_only("/stats")
async def cmd_stats(update: Update, context: Context) -> None:
    counts = await asyncio.to_thread(context.bridge.store.counts)
    await _answer(update, context, say("utter_staff_counts", **counts))


@staff_only("/report")
async def cmd_report(update: Update, context: Context) -> None:
    """/report [days]: the chart as a photo, then the counts and unanswered questions."""
    args = context.args or []
    days = DEFAULT_REPORT_DAYS
    if args:
        if not args[0].isdigit() or not 1 <= int(args[0]) <= MAX_REPORT_DAYS:
            await _answer(update, context, say("utter_staff_report_usage"))
            return
        days = int(args[0])
    b = context.bridge
    end = utcnow()
    path = b.cfg.data_dir / "reports" / f"chart-{end:%Y%m%d-%H%M%S}-{update.update_id}.png"
    try:
        report = await asyncio.to_thread(build_report, b.store, end - timedelta(days=days), end)
        await asyncio.to_thread(render_chart, report, path)
    except (ReportError, OSError) as exc:
        log.error("report failed: %s", exc)
        await _answer(update, context, say("utter_staff_report_failed"))
        return
    chat_id = update.effective_chat.id
    try:
        with path.open("rb") as photo:
            await context.bot.send_photo(chat_id, photo=photo, caption=summary(report))
    finally:
        path.unlink(missing_ok=True)
    await send_texts(context.bot, chat_id, [report_text(report)])


@staff_only("/staffhelp")
async def cmd_staffhelp(update: Update, context: Context) -> None:
    await _answer(update, context, say("utter_staff_usage"))


COMMANDS = {
    "open": cmd_open,
    "ticket": cmd_ticket,
    "reopen": cmd_reopen,
    "stats": cmd_stats,
    "report": cmd_report,
    "staffhelp": cmd_staffhelp,
}


def add_handlers(app: BridgeApplication, staff_chat_id: int | None) -> None:
    """Card buttons (anywhere), and commands and replies in the staff chat."""
    app.add_handler(CallbackQueryHandler(on_button))
    if staff_chat_id is None:
        return
    in_staff = filters.Chat(staff_chat_id) & filters.UpdateType.MESSAGE
    for name, callback in COMMANDS.items():
        app.add_handler(CommandHandler(name, callback, filters=in_staff))
    app.add_handler(MessageHandler(in_staff & filters.REPLY & filters.TEXT & ~filters.COMMAND, on_reply))
