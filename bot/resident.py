"""Resident side: private chats forwarded to Rasa; commands, speech, voice messages, limits.

What belongs to a ticket's conversation (a reply to a staff message, the answer to a staff
question, photos and voice messages for staff) goes to staff first (bot/conversation.py).

A person's updates are handled one at a time, in order, and rate-limited on arrival
(bot/ordering.py, `admission`); handlers read the bridge's state from `context.bridge`.
While Rasa is down, a request for a person is stored by the bridge itself (bot/outage.py).
"""

from __future__ import annotations

import contextlib
import logging

from telegram import Update
from telegram.constants import ChatAction
from telegram.error import TelegramError
from telegram.ext import CommandHandler, MessageHandler, filters

from bot import conversation, listening
from bot.context import BridgeApplication
from bot.context import BridgeContext as Context
from bot.ordering import Admit
from bot.outage import record_while_down, wants_person
from bot.outgoing import reply, send_texts
from bot.runtime import Verdict, sender_id
from bot.speaking import (
    apply_listen,
    change_rate,
    current_rate,
    last_reply,
    listener_of,
    set_voice,
    speak,
    speed_word,
    voice_enabled,
)
from common.rasa_client import RasaUnavailable, Replies, parse_replies
from common.texts import say
from speech.spoken import Request, full_sources, listener_request

log = logging.getLogger(__name__)


# --------------------------------------------------------------------------- limits


def admission(app: BridgeApplication) -> Admit:
    """The per-person rate limit, checked when a resident's message arrives (bot/ordering.py):
    excess messages go nowhere; the person is told once per window."""
    bridge = app.bridge
    staff_chat = bridge.cfg.staff_chat_id

    async def admit(update: Update) -> bool:
        user, chat = update.effective_user, update.effective_chat
        if update.message is None or user is None or chat is None or chat.type != chat.PRIVATE:
            return True
        if chat.id == staff_chat:
            return True
        verdict = bridge.limiter.check(user.id)
        if verdict is Verdict.ALLOW:
            return True
        log.info("rate limit: dropped a message from user %s", user.id)
        if verdict is Verdict.NOTIFY:
            with contextlib.suppress(TelegramError):
                await send_texts(app.bot, chat.id, [say("utter_bot_rate_limited")])
        return False

    return admit


# --------------------------------------------------------------------------- commands


async def cmd_start(update: Update, context: Context) -> None:
    await reply(update, context, [say("utter_bot_start")])


async def cmd_help(update: Update, context: Context) -> None:
    await reply(update, context, [say("utter_bot_help")])


async def cmd_voice(update: Update, context: Context) -> None:
    """/voice: speech on ↔ off."""
    user_data = context.user_data
    on = not voice_enabled(user_data)
    set_voice(user_data, on)
    rate = current_rate(user_data, context.bridge.cfg.tts_rate)
    state = say("utter_word_on" if on else "utter_word_off")
    await reply(update, context, [say("utter_bot_voice_state", state=state, speed=speed_word(rate))])


async def _change_speed(update: Update, context: Context, step: int) -> None:
    rate, changed = change_rate(context.user_data, context.bridge.cfg.tts_rate, step)
    name = "utter_bot_speed" if changed else "utter_bot_speed_limit"
    await reply(update, context, [say(name, speed=speed_word(rate))])


async def cmd_slower(update: Update, context: Context) -> None:
    await _change_speed(update, context, -1)


async def cmd_faster(update: Update, context: Context) -> None:
    await _change_speed(update, context, +1)


async def cmd_unknown(update: Update, context: Context) -> None:
    """Any other /command: never forwarded (Rasa would read "/x" as an intent)."""
    await reply(update, context, [say("utter_bot_help")])


# --------------------------------------------------------------------------- messages


async def on_text(update: Update, context: Context) -> None:
    """A text message: the answer to what the bridge asked, a message for staff (a ticket's
    conversation, bot/conversation.py), else (cut if too long) to Rasa."""
    cfg = context.bridge.cfg
    text = (update.message.text or "").strip()
    heard = context.user_data.pop(listening.HEARD, None)
    if heard and text:  # the answer to "我听到的是……对吗？"
        right = listening.confirmation_of(text)
        if right is True:
            await listening.confirmed(update, context, heard)
            return
        if right is False:
            await listening.wrong(update, context, heard)
            return
    handled, for_rasa = await conversation.answer_asked(update, context, text) if text else (False, None)
    if for_rasa:  # "2 不用": the held message was a question for the assistant
        await converse(update, context, for_rasa, [])
        return
    if handled:
        return
    length = len(text)
    notices: list[str] = []
    if len(text) > cfg.max_message_chars:
        text = text[: cfg.max_message_chars].strip()
        notices.append(say("utter_bot_too_long", limit=cfg.max_message_chars))
    if text and await conversation.route(update, context, conversation.Item("text", text, length=length)):
        return
    text = text.lstrip("/").strip()
    if not text:
        await reply(update, context, [say("utter_empty")])
        return
    if listener_request(text) in BRIDGE_LISTEN:  # undoing 念短一点 / 念慢一点: Rasa has no intent for it
        await listen(update, context, [listener_request(text).value], [])
        return
    await converse(update, context, text, notices)


async def converse(update: Update, context: Context, text: str, notices: list[str]) -> None:
    """One message through Rasa; its replies back (or an apology, or a ticket while down)."""
    b = context.bridge
    chat, user = update.effective_chat, update.effective_user
    sender = sender_id(chat.id, user.id)
    with contextlib.suppress(TelegramError):
        await context.bot.send_chat_action(chat.id, ChatAction.TYPING)
    try:
        replies = await b.rasa.send(sender, text)
    except RasaUnavailable as exc:
        log.warning("Rasa unavailable for %s: %s", sender, exc)
        if wants_person(text):
            answer = await record_while_down(b, sender, user.first_name, text, update.message.message_id)
            await reply(update, context, [*notices, answer])
        else:
            b.remember(sender, text)
            await reply(update, context, [*notices, say("utter_bot_service_down")])
        return
    b.remember(sender, text)
    b.down_tickets.pop(sender, None)  # Rasa is back: a later outage starts its own ticket
    answered = parse_replies(replies)
    for number in answered.created:
        await listening.keep_audio(update, context, number)
    if answered.voice is not None:
        set_voice(context.user_data, answered.voice)
    if answered.listen:
        await listen(update, context, answered.listen, [*notices, *answered.texts], answered.keyboard)
        return
    if listener_request(text) is Request.FULL_SOURCES and await _speak_sources(update, context, answered):
        return
    await reply(update, context, [*notices, *answered.texts], answered.keyboard, speech=answered.speech)


# Requests about the speech that Rasa has no intent for (the others come as {"listen": …}).
BRIDGE_LISTEN = frozenset({Request.LONGER, Request.FASTER})


def _request(name: str) -> Request | None:
    try:
        return Request(name)
    except ValueError:
        return None


async def listen(
    update: Update, context: Context, names: list[str], texts: list[str], keyboard: list[str] = ()
) -> None:
    """Requests about the speech itself ({"listen": …} from Rasa, or words the bridge knows):
    the person's Listener changes and is kept; one short sentence confirms it (Rasa's, else
    texts.yml). "repeat" says the last reply again (its voice note, or its text when the
    voice is off); "full_sources" speaks the whole source list of the last reply."""
    user_data = context.user_data
    requests = [r for r in (_request(n) for n in names) if r is not None]
    for request in requests:
        apply_listen(user_data, request)
    last = last_reply(user_data)
    if Request.REPEAT in requests:
        if last is None:
            await reply(update, context, [say("utter_bot_listen_nothing_to_repeat")], remember=False)
            return
        text, speech = last
        if voice_enabled(user_data):
            await reply(
                update, context, texts or [say("utter_bot_listen_repeat")], keyboard, voice=False, remember=False
            )
            rate = current_rate(user_data, context.bridge.cfg.tts_rate)
            await speak(
                context.bot, update.effective_chat.id, text, rate, listener=listener_of(user_data), speech=speech
            )
        else:
            await reply(update, context, [text], keyboard, speech=speech)
        return
    if Request.FULL_SOURCES in requests and last is not None:
        await reply(
            update,
            context,
            texts or [say("utter_bot_listen_full_sources")],
            keyboard,
            pieces=full_sources(last[0]),
            remember=False,
        )
        return
    if not texts:
        texts = [say(f"utter_bot_listen_{r.value}") for r in requests[-1:] if r is not Request.FULL_SOURCES]
    await reply(update, context, texts, keyboard, remember=False)


async def _speak_sources(update: Update, context: Context, answered: Replies) -> bool:
    """ "来源是哪里": Rasa's list as text; spoken, the whole source list of the last answer."""
    last = last_reply(context.user_data)
    if last is None or not answered.texts or not voice_enabled(context.user_data):
        return False
    await reply(update, context, answered.texts, answered.keyboard, pieces=full_sources(last[0]), remember=False)
    return True


async def on_photo(update: Update, context: Context) -> None:
    """A photo: to the ticket it belongs to, offered when a ticket is open, else not understood."""
    context.user_data.pop(conversation.ASKED, None)
    item = conversation.Item("photo", update.message.caption or "", update.message.photo[-1].file_id)
    if await conversation.route(update, context, item) or await conversation.offer_media(update, context, item):
        return
    await on_unsupported(update, context)


async def on_unsupported(update: Update, context: Context) -> None:
    await reply(update, context, [say("utter_bot_unsupported")])


RECORDINGS = filters.VOICE | filters.AUDIO | filters.VIDEO_NOTE | filters.Document.AUDIO
UNSUPPORTED = (
    filters.ATTACHMENT | filters.LOCATION | filters.VENUE | filters.CONTACT | filters.POLL | filters.Dice.ALL
) & ~RECORDINGS


def add_handlers(app: BridgeApplication, staff_chat_id: int | None) -> None:
    """Register the resident handlers (private chats other than the staff chat)."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    if staff_chat_id is not None:
        private = private & ~filters.Chat(staff_chat_id)
    for name, callback in (
        ("start", cmd_start),
        ("help", cmd_help),
        ("voice", cmd_voice),
        ("slower", cmd_slower),
        ("faster", cmd_faster),
    ):
        app.add_handler(CommandHandler(name, callback, filters=private))
    app.add_handler(MessageHandler(private & filters.COMMAND, cmd_unknown))
    app.add_handler(MessageHandler(private & RECORDINGS, listening.on_voice))
    app.add_handler(MessageHandler(private & filters.PHOTO, on_photo))
    app.add_handler(MessageHandler(private & filters.TEXT, on_text))
    app.add_handler(MessageHandler(private & UNSUPPORTED, on_unsupported))
