"""A resident's side of a ticket's conversation on Telegram: what goes to staff without Rasa.

While a resident has an open ticket, the bridge passes to staff (as a reply to the ticket's
card, stored first: tickets.lifecycle `add_resident_message`):
- a Telegram reply to a bot message that names one of their tickets (a staff reply, the
  ticket number, a "passed on" line): via "reply";
- their next message after staff asked a question (a reply ending in ？ or 追问): via "answer";
- their next message after a plain staff reply, when they say yes to "要把这句话转给工作人员吗？
  1 要 2 不用" (on 2 it goes to Rasa as a question): via "offer";
- voice messages and photos the same way; otherwise a voice message is offered (a new ticket
  with the audio, or added to the open one) and a photo is offered when a ticket is open.
With several open tickets the resident chooses one by digit. What the bridge asks is kept in
`user_data` (persisted), so a restart between the question and the answer loses nothing.
A message with danger words that goes to a ticket gets the emergency lines first and marks
the ticket urgent (knowledge/danger.py, knowledge/emergency.yml).

Everything else ("我还要补充…" included) goes to Rasa: actions/status.py adds notes there,
for the REST channel and the terminal chat as well.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from telegram import Message, Update

from bot.context import BridgeContext as Context
from bot.outgoing import reply
from bot.runtime import sender_id
from common.choices import digit_choice, fold, numbered
from common.texts import say
from tickets.fields import CATEGORIES, MAX_TEXT
from tickets.model import Ticket, TicketError
from tickets.numbers import NUMBER_RE
from tickets.replies import parse_yes_no
from tickets.schema import to_local

if TYPE_CHECKING:
    from bot.context import BridgeApplication

log = logging.getLogger(__name__)

AFTER_STAFF = "after_staff"  # user_data: {"ticket", "question", "at"}: a staff message was delivered
ASKED = "asked_for_staff"  # user_data: what the bridge asked ("offer" / "which") and the item held
# A staff message makes the next message an answer (or an offer) for this long.
AFTER_STAFF_SECONDS = 72 * 3600
MAX_CHOICES = 3
OTHER_CATEGORY = CATEGORIES[-1]


@dataclass(frozen=True)
class Item:
    """What a resident sent: text, or a voice message / photo (`file_id`, caption as `text`)."""

    kind: str
    text: str = ""
    file_id: str | None = None
    length: int = 0  # characters the resident typed (before any cut)

    @classmethod
    def of(cls, data: dict[str, Any]) -> Item:
        return cls(
            str(data.get("kind", "text")), str(data.get("text", "")), data.get("file_id"), int(data.get("length", 0))
        )


def expect_from_resident(app: BridgeApplication, user_id: int, number: str, question: bool) -> None:
    """A staff message for `number` reached the resident: their next message is about it."""
    app.user_data[user_id][AFTER_STAFF] = {"ticket": number, "question": question, "at": time.time()}
    app.user_data[user_id].pop(ASKED, None)
    app.mark_data_for_update_persistence(user_ids=[user_id])


# --------------------------------------------------------------------------- danger


def emergency_lines(text: str) -> list[str]:
    """The emergency lines to say first when `text` names a danger now; [] otherwise."""
    if not text:
        return []
    from knowledge import danger
    from knowledge.base import load_emergency
    from knowledge.lexical import normalise

    found = danger.find(normalise(text).replace(" ", ""))
    if not found.any or (found.past and not found.strong):
        return []
    by_key = {line.key: line.text for line in load_emergency()}
    return [by_key[k] for k in danger.line_keys(list(found.kinds)) if k in by_key]


# --------------------------------------------------------------------------- passing on


async def pass_on(update: Update, context: Context, ticket: Ticket, item: Item, via: str) -> None:
    """Store `item` on the resident's open `ticket` (staff are told) and say so in one sentence."""
    b = context.bridge
    chat, user = update.effective_chat, update.effective_user
    lines = emergency_lines(item.text)
    try:
        await asyncio.to_thread(
            b.store.add_resident_message,
            ticket.number,
            sender_id(chat.id, user.id),
            item.text[:MAX_TEXT],
            kind=item.kind,
            file_id=item.file_id,
            via=via,
            urgent=bool(lines),
        )
    except TicketError as exc:  # closed in the meantime, or not theirs: nothing stored
        log.info("not added to %s: %s", ticket.number, exc)
        await reply(update, context, [*lines, say("utter_bot_reply_closed", ticket=ticket.number)])
        return
    except Exception:  # the person must hear that it failed
        log.exception("could not add a message to %s", ticket.number)
        await reply(update, context, [*lines, say("utter_ticket_failed")])
        return
    log.info("resident message (%s, %s) added to %s", item.kind, via, ticket.number)
    b.wake_deliverer()
    cut = [say("utter_bot_passed_on_cut", limit=MAX_TEXT)] if max(item.length, len(item.text)) > MAX_TEXT else []
    await reply(update, context, [*lines, *cut, say("utter_bot_passed_on", ticket=ticket.number)])


def _date(ticket: Ticket) -> str:
    created = to_local(ticket.created_at)
    return f"{created.month}月{created.day}日"


async def _own_open(context: Context, update: Update, number: str | None = None) -> list[Ticket]:
    """The resident's most recent open tickets (or the one numbered `number`, if theirs and open)."""
    store = context.bridge.store
    sender = sender_id(update.effective_chat.id, update.effective_user.id)
    if number:
        ticket = await asyncio.to_thread(store.find_for_sender, number, sender)
        return [ticket] if ticket is not None and ticket.is_open else []
    return await asyncio.to_thread(store.open_for_sender, sender, MAX_CHOICES)


async def _ask_which(update: Update, context: Context, item: Item, tickets: list[Ticket]) -> None:
    options = [say("utter_bot_which_option", ticket=t.number, category=t.category, when=_date(t)) for t in tickets]
    options.append(say("utter_bot_which_none"))
    context.user_data[ASKED] = {"kind": "which", "tickets": [t.number for t in tickets], "item": asdict(item)}
    text = say("utter_bot_which_ticket", count=len(tickets), options=numbered(options))
    await reply(update, context, [text], [str(i) for i in range(1, len(options) + 1)])


async def _offer(update: Update, context: Context, item: Item, ticket: Ticket | None, text: str = "") -> None:
    """Ask whether to pass `item` on (to `ticket`, or to the open one / a new ticket for voice);
    `text` asks in other words (it must end with the same 1 / 2 choice)."""
    context.user_data[ASKED] = {"kind": "offer", "ticket": ticket.number if ticket else None, "item": asdict(item)}
    if not text and item.kind == "voice":
        text = say("utter_bot_voice_to_ticket", ticket=ticket.number) if ticket else say("utter_bot_voice_message")
    elif not text and item.kind == "photo":
        text = say("utter_bot_offer_photo", ticket=ticket.number if ticket else "")
    elif not text:
        text = say("utter_bot_offer_to_staff", ticket=ticket.number if ticket else "")
    await reply(update, context, [text], ["1", "2"])


async def _deliver_accepted(update: Update, context: Context, item: Item, number: str | None) -> None:
    """The resident said yes: to the named ticket if still open, else the only open one,
    else a choice; a voice message with no open ticket becomes a new ticket."""
    tickets = await _own_open(context, update, number) if number else []
    if not tickets:
        tickets = await _own_open(context, update)
    if len(tickets) == 1 or (number and tickets and tickets[0].number == number):
        await pass_on(update, context, tickets[0], item, "offer")
    elif tickets:
        await _ask_which(update, context, item, tickets)
    elif item.kind == "voice" and item.file_id:
        await new_voice_ticket(update, context, item.file_id, item.text)
    else:
        await reply(update, context, [say("utter_note_no_ticket")])


async def new_voice_ticket(update: Update, context: Context, file_id: str, note: str = "") -> None:
    """A ticket with the audio attached; staff get card and audio (and `note`, e.g. what the
    recogniser heard, in the description)."""
    b = context.bridge
    chat, user = update.effective_chat, update.effective_user
    description = say("utter_staff_desc_voice_note", note=note) if note else say("utter_staff_desc_voice")
    try:
        ticket = await asyncio.to_thread(
            b.store.create,
            sender_id(chat.id, user.id),
            contact_name=(user.first_name or "")[:64],
            phone="",
            township="",
            category=OTHER_CATEGORY,
            description=description,
            audio_file=file_id,
        )
    except Exception:  # the person must hear that it failed
        log.exception("could not store a voice help request")
        await reply(update, context, [say("utter_ticket_failed")])
        return
    log.info("ticket %s stored for a voice message from chat %s", ticket.number, chat.id)
    b.wake_deliverer()
    await reply(update, context, [say("utter_bot_voice_forwarded", ticket=ticket.number)])


async def answer_asked(update: Update, context: Context, text: str) -> tuple[bool, str | None]:
    """The answer to what the bridge asked (offer / which). (handled, text to send to Rasa):
    on 2 after an offer, the held message goes to Rasa; anything else drops the question and
    the new message goes on as usual (handled False)."""
    asked = context.user_data.pop(ASKED, None)
    if not asked:
        return False, None
    item = Item.of(asked.get("item") or {})
    if asked.get("kind") == "which":
        numbers = [str(n) for n in asked.get("tickets", [])]
        choice = digit_choice(text)
        if choice is not None and 1 <= choice <= len(numbers):
            await _deliver_accepted(update, context, item, numbers[choice - 1])
            return True, None
        if choice == len(numbers) + 1 or parse_yes_no(text) is False:
            await reply(update, context, [say("utter_bot_not_passed_on")])
            return True, None
        return False, None
    yes = parse_yes_no(text)
    if yes is True:
        await _deliver_accepted(update, context, item, asked.get("ticket"))
        return True, None
    if yes is False:
        if item.kind == "text" and item.text:
            return True, item.text  # it was meant for the assistant
        await reply(
            update, context, [say("utter_bot_voice_declined" if item.kind == "voice" else "utter_bot_not_passed_on")]
        )
        return True, None
    return False, None


def _named_ticket(message: Message, bot_id: int) -> str | None:
    """The ticket number in the bot message this message replies to (one number only)."""
    target = message.reply_to_message
    if target is None or target.from_user is None or target.from_user.id != bot_id:
        return None
    numbers = set(NUMBER_RE.findall(target.text or target.caption or ""))
    return numbers.pop() if len(numbers) == 1 else None


def _bare_for_assistant(text: str) -> bool:
    """Short control words that are for the assistant, not for staff (a digit, 转人工, 查进度…)."""
    from bot.outage import wants_person  # bot.outage imports this module

    folded = fold(text)
    return digit_choice(folded) is not None or wants_person(folded) or folded in ("查进度", "进度", "/start")


async def route(update: Update, context: Context, item: Item) -> bool:
    """Send `item` to staff when it belongs to a ticket's conversation; True when handled."""
    named = _named_ticket(update.message, context.bot.id)
    after = context.user_data.pop(AFTER_STAFF, None)
    if named:
        sender = sender_id(update.effective_chat.id, update.effective_user.id)
        ticket = await asyncio.to_thread(context.bridge.store.find_for_sender, named, sender)
        if ticket is None:
            await reply(update, context, [say("utter_bot_reply_not_yours", ticket=named)])
        elif not ticket.is_open:
            await reply(update, context, [say("utter_bot_reply_closed", ticket=named)])
        else:
            await pass_on(update, context, ticket, item, "reply")
        return True
    if not after or time.time() - float(after.get("at", 0)) > AFTER_STAFF_SECONDS:
        return False
    tickets = await _own_open(context, update, str(after.get("ticket")))
    if not tickets:
        return False
    if after.get("question"):
        await pass_on(update, context, tickets[0], item, "answer")
        return True
    if item.kind == "text" and _bare_for_assistant(item.text):
        return False
    if emergency_lines(item.text):  # danger: no question first
        await pass_on(update, context, tickets[0], item, "offer")
        return True
    await _offer(update, context, item, tickets[0])
    return True


async def offer_media(update: Update, context: Context, item: Item, text: str = "") -> bool:
    """A voice message or photo outside a conversation: offer it to staff (voice always; a photo
    when a ticket is open), asking with `text` when given. False when a photo has nowhere to go."""
    tickets = await _own_open(context, update)
    if item.kind == "photo" and not tickets:
        return False
    if len(tickets) > 1:
        if item.kind == "voice":
            await _offer(update, context, item, None, text)  # then which one
        else:
            await _ask_which(update, context, item, tickets)
        return True
    await _offer(update, context, item, tickets[0] if tickets else None, text)
    return True
