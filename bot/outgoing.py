"""Sending plain text that a screen reader reads well: no parse mode, short messages."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from telegram import Bot, Message, ReplyKeyboardMarkup, ReplyKeyboardRemove, Update

from bot.speaking import current_rate, speak, voice_enabled

if TYPE_CHECKING:
    from bot.context import BridgeContext

# Telegram allows 4096 characters; stay below it and cut at line ends.
MAX_TEXT = 4000
KEYBOARD_ROW = 5

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


async def send_texts(bot: Bot, chat_id: int, texts: Sequence[str], markup: Markup = None) -> list[Message]:
    """Send each text as plain messages; `markup` goes with the last one."""
    pieces = [p for text in texts for p in split_text(text)]
    sent = []
    for i, piece in enumerate(pieces):
        last = i == len(pieces) - 1
        sent.append(await bot.send_message(chat_id, piece, reply_markup=markup if last else None))
    return sent


async def reply(update: Update, context: BridgeContext, texts: Sequence[str], keyboard: Sequence[str] = ()) -> None:
    """Answer in the person's chat: text with a digit keyboard (or none), then speech if on."""
    chat_id = update.effective_chat.id
    markup = digit_keyboard(keyboard) if keyboard else ReplyKeyboardRemove()
    await send_texts(context.bot, chat_id, texts, markup)
    if texts and voice_enabled(context.user_data):
        rate = current_rate(context.user_data, context.bridge.cfg.tts_rate)
        await speak(context.bot, chat_id, "\n".join(texts), rate)
