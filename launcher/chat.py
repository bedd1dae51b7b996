"""The terminal chat: type Chinese at a prompt, read (and optionally hear) the answers."""

from __future__ import annotations

import uuid

from common.config import Settings
from common.rasa_client import RasaClient, RasaUnavailable, parse_replies
from common.texts import say


def repl(cfg: Settings, sender: str | None = None) -> None:
    """Read lines until EOF or /quit; answers are printed and, with /voice, spoken."""
    sender = sender or f"local-{uuid.uuid4().hex[:8]}"
    rasa = RasaClient.from_settings(cfg)
    limit = cfg.max_message_chars
    speak = False
    print(say("utter_bot_chat_banner"))
    while True:
        try:
            text = input("您：").strip()
        except (EOFError, KeyboardInterrupt):
            print()
            return
        if text in ("/quit", "/exit"):
            return
        if text == "/voice":
            speak = not speak
            print(
                "助手："
                + say("utter_bot_voice_state", state=say("utter_word_on" if speak else "utter_word_off"), speed="正常")
            )
            continue
        if not text:
            print("助手：" + say("utter_empty"))
            continue
        if len(text) > limit:
            print("助手：" + say("utter_bot_too_long", limit=limit))
            text = text[:limit]
        try:
            answered = parse_replies(rasa.send_sync(sender, text, empty_ok=True))
            lines, voice = answered.texts, answered.voice
        except RasaUnavailable:
            print("助手：" + say("utter_bot_service_down"))
            continue
        if voice is not None:
            speak = voice
        for line in lines:
            print("助手：" + line)
        if speak and lines:
            from speech.voice_note import speak_local

            speak_local("\n".join(lines))
