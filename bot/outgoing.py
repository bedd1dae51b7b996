"""Sending plain text that a screen reader reads well: no parse mode, short messages.

A reply that Telegram does not take at once is not dropped: `send_texts` tries again for
up to `retry_for` seconds (REPLY_RETRY_SECONDS by default) on 5xx and connection errors
(backoff with jitter) and on flood control (after `retry_after`); after a timeout it sends
once more at most, since the first may have arrived. The outbox deliverer passes
`retry_for=0`: it keeps its own retries in the database.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from telegram import Bot, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut

from bot.speaking import current_rate, listener_of, remember_reply, speak, voice_enabled
from speech.spoken import Plan

if TYPE_CHECKING:
    from bot.context import BridgeContext

log = logging.getLogger(__name__)

# Telegram allows 4096 characters; stay below it and cut at line ends.
MAX_TEXT = 4000
KEYBOARD_ROW = 5
REPLY_RETRY_SECONDS = 300.0
MAX_REPLY_BACKOFF = 15.0

Markup = ReplyKeyboardMarkup | ReplyKeyboardRemove | None


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """`text` in pieces of at most `limit` characters, cut at line ends where possible."""
    pieces: list[str] = []
    current = ""
    for line in text.split("\n"):
        while len(line) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces.append(line[:limit])
            line = line[limit:]
        candidate = f"{current}\n{line}" if current else line
        if len(candidate) > limit:
            pieces.append(current)
            candidate = line
        current = candidate
    if current.strip():
        pieces.append(current)
    return [p for p in pieces if p.strip()]


def digit_keyboard(labels: Sequence[str]) -> ReplyKeyboardMarkup:
    """A reply keyboard of the choices (digits), at most five per row, hidden after use."""
    rows = [list(labels[i : i + KEYBOARD_ROW]) for i in range(0, len(labels), KEYBOARD_ROW)]
    return ReplyKeyboardMarkup(rows, resize_keyboard=True, one_time_keyboard=True)


async def send_texts(
    bot: Bot,
    chat_id: int,
    texts: Sequence[str],
    markup: Markup = None,
    *,
    retry_for: float = REPLY_RETRY_SECONDS,
    **options: Any,
) -> list[Message]:
    """Send each text as plain messages; `markup` goes with the last one (`options` to each call)."""
    pieces = [p for text in texts for p in split_text(text)]
    sent = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        reply_markup = markup if last else None
        sent.append(
            await _patiently(
                lambda p=piece, m=reply_markup: bot.send_message(chat_id, p, reply_markup=m, **options), retry_for
            )
        )
    return sent


async def reply(
    update: Update,
    context: BridgeContext,
    texts: Sequence[str],
    keyboard: Sequence[str] = (),
    *,
    speech: dict[str, Any] | None = None,
    voice: bool | None = None,
    pieces: Plan | None = None,
    remember: bool = True,
) -> None:
    """Answer in the person's chat: text with a digit keyboard (or none), then ONE voice note
    if their voice is on (or `voice` is True), spoken as their Listener wants it.

    `speech` is the spoken form that followed a knowledge answer (speech.spoken.plan_for);
    `pieces` speaks that plan instead of the texts. The reply is kept for "再念一遍" unless
    `remember` is False (the confirmation of a listening request is not worth repeating).
    """
    chat_id = update.effective_chat.id
    markup = digit_keyboard(keyboard) if keyboard else ReplyKeyboardRemove()
    try:
        await send_texts(context.bot, chat_id, texts, markup)
    except TelegramError as exc:
        # Retried for REPLY_RETRY_SECONDS, or sent twice after timeouts (it may have arrived):
        # nothing more to do here; what Rasa or the tickets stored stays stored.
        log.warning("reply to chat %s not confirmed by Telegram: %s: %s", chat_id, type(exc).__name__, exc)
        return
    text = "\n".join(texts)
    user_data = context.user_data
    if remember and text.strip():
        remember_reply(user_data, text, speech)
    if (texts or pieces) and (voice if voice is not None else voice_enabled(user_data)):
        rate = current_rate(user_data, context.bridge.cfg.tts_rate)
        await speak(context.bot, chat_id, text, rate, listener=listener_of(user_data), speech=speech, pieces=pieces)


async def _patiently(call: Any, retry_for: float) -> Message:
    """`call()`, tried again while Telegram is briefly unavailable (at most one resend after a timeout)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + retry_for
    attempt = 0
    timed_out = 0
    while True:
        try:
            return await call()
        except RetryAfter as exc:
            after = exc.retry_after
            wait = float(after if isinstance(after, int | float) else after.total_seconds()) + random.uniform(0.1, 1.0)
            if loop.time() + wait > deadline:
                raise
        except TimedOut:
            timed_out += 1
            wait = 1.0
            if timed_out > 1 or loop.time() + wait > deadline:
                raise  # sent twice, maybe both arrived: no third copy
        except BadRequest:
            raise  # a NetworkError in python-telegram-bot, but no retry changes Telegram's answer
        except NetworkError:
            wait = min(MAX_REPLY_BACKOFF, 2.0**attempt) * random.uniform(0.5, 1.0)
            if loop.time() + wait > deadline:
                raise
        attempt += 1
        await asyncio.sleep(wait)
