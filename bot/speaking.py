"""Per-person speech settings (kept in PTB's persistent `user_data`) and sending voice notes.

What a person keeps, in `user_data`: voice on/off (VOICE_KEY), the base rate (RATE_KEY),
how they like to listen (LISTENER_KEY: speech.spoken.Listener — shorter, slower, no
sources) and the last reply that was spoken or could have been (LAST_KEY: its text and
speech payload), for "再念一遍" and "来源是哪里". A reply is spoken as ONE voice note made
for the ear (speech.spoken.voice_note): the payload's spoken form when a knowledge answer
has one, else the written reply with a brief source and real pauses.
"""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

from telegram import Bot
from telegram.error import TelegramError

from common.texts import say
from speech import SpeechError
from speech.spoken import Listener, Plan, Request, voice_note, voice_note_for

log = logging.getLogger(__name__)

# Speech rate steps in words per minute, slowest first (/slower and /faster move one step).
RATES = (110, 130, 150, 170, 190)
VOICE_KEY = "voice"
RATE_KEY = "rate"
LISTENER_KEY = "listener"
LAST_KEY = "last_spoken"

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


def listener_of(user_data: UserData | None) -> Listener:
    """How the person wants to hear answers (defaults when nothing is stored or it is not valid)."""
    stored = (user_data or {}).get(LISTENER_KEY)
    try:
        return Listener.from_dict(stored if isinstance(stored, dict) else None)
    except TypeError:
        return Listener()


def apply_listen(user_data: UserData, request: Request) -> Listener:
    """Change the person's listening preferences by `request` and keep them; the new ones."""
    listener = listener_of(user_data).apply(request)
    user_data[LISTENER_KEY] = listener.to_dict()
    return listener


def remember_reply(user_data: UserData, text: str, speech: dict[str, Any] | None = None) -> None:
    """Keep the reply just sent (text and speech payload) for "再念一遍" and "来源是哪里"."""
    if text.strip():
        user_data[LAST_KEY] = {"text": text, "speech": speech if isinstance(speech, dict) else None}


def last_reply(user_data: UserData | None) -> tuple[str, dict[str, Any] | None] | None:
    """The last reply kept by `remember_reply` (text, speech payload), or None."""
    last = (user_data or {}).get(LAST_KEY)
    if not isinstance(last, dict) or not isinstance(last.get("text"), str) or not last["text"].strip():
        return None
    speech = last.get("speech")
    return last["text"], speech if isinstance(speech, dict) else None


async def speak(
    bot: Bot,
    chat_id: int,
    text: str,
    rate: int,
    *,
    listener: Listener | None = None,
    speech: object = None,
    pieces: Plan | None = None,
) -> int:
    """Send the spoken form of `text` (with its speech payload, as `listener` wants it) as ONE
    voice note, or `pieces` when a plan is given; returns how many notes were sent (0 or 1).

    Synthesis runs in a worker thread (speech.spoken). A speech or Telegram failure is
    logged and ends here: the text was already sent and stands on its own.
    """
    try:
        if pieces is not None:
            rendered = await voice_note_for(pieces, rate=(listener or Listener()).rate(rate))
        else:
            rendered = await voice_note(text, listener, rate=rate, speech=speech)
    except (SpeechError, OSError, ValueError) as exc:
        log.warning("speech failed for chat %s, text only: %s", chat_id, exc)
        return 0
    except Exception:  # noqa: BLE001 - a voice note is extra: never lose the conversation over it
        log.exception("speech failed for chat %s, text only", chat_id)
        return 0
    if rendered is None:
        return 0
    try:
        with rendered.path.open("rb") as audio:
            await bot.send_voice(chat_id, voice=audio)
    except (TelegramError, OSError) as exc:
        log.warning("could not send a voice note to chat %s: %s", chat_id, exc)
        return 0
    return 1
