"""Per-person speech settings (kept in PTB's persistent `user_data`) and sending voice notes."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from common.texts import say
from speech import SpeechError, voice_notes

log = logging.getLogger(__name__)

# Speech rate steps in words per minute, slowest first (/slower and /faster move one step).
RATES = (110, 130, 150, 170, 190)
VOICE_KEY = "voice"
RATE_KEY = "rate"

UserData = MutableMapping[str, Any]


def voice_enabled(user_data: UserData | None) -> bool:
    return bool(user_data and user_data.get(VOICE_KEY))


def set_voice(user_data: UserData, on: bool) -> None:
    user_data[VOICE_KEY] = bool(on)


def current_rate(user_data: UserData | None, default: int) -> int:
    """The person's speech rate, else the configured default."""
    rate = (user_data or {}).get(RATE_KEY)
    return int(rate) if isinstance(rate, int) else default


def change_rate(user_data: UserData, default: int, step: int) -> tuple[int, bool]:
    """Move one step slower (-1) or faster (+1); returns (rate now, whether it changed)."""
    rate = current_rate(user_data, default)
    steps = [r for r in RATES if (r - rate) * step > 0]
    if not steps:
        return rate, False
    new = min(steps, key=lambda r: abs(r - rate))
    user_data[RATE_KEY] = new
    return new, True


def speed_word(rate: int) -> str:
    """A plain word for a rate: 很慢 / 慢一点 / 正常 / 快一点 / 很快 (nearest step)."""
    index = min(range(len(RATES)), key=lambda i: abs(RATES[i] - rate))
    return say(f"utter_bot_speed_name_{index + 1}")


async def speak(bot: Bot, chat_id: int, text: str, rate: int) -> int:
    """Send `text` as voice note(s); returns how many were sent.

    Synthesis runs in worker threads (speech.voice_notes). A speech or Telegram failure is
    logged and ends here: the text was already sent and stands on its own.
    """
    try:
        paths = await voice_notes(text, rate)
    except (SpeechError, OSError) as exc:
        log.warning("speech failed for chat %s, text only: %s", chat_id, exc)
        return 0
    sent = 0
    for path in paths:
        try:
            with path.open("rb") as audio:
                await bot.send_voice(chat_id, voice=audio)
        except (TelegramError, OSError) as exc:
            log.warning("could not send a voice note to chat %s: %s", chat_id, exc)
            break
        sent += 1
    return sent
