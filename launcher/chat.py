"""The terminal chat: type Chinese at a prompt, read (and optionally hear) the answers."""

from __future__ import annotations

import json
import urllib.request
import uuid

from common.config import Settings
from common.texts import say

MAX_CHARS = 1000


def send(cfg: Settings, sender: str, text: str, timeout: float = 30.0) -> list[dict]:
    """One message through Rasa's REST channel; the replies."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    req = urllib.request.Request(
        f"{cfg.rasa_url}/webhooks/rest/webhook", data=body, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:  # noqa: S310 - loopback URL we built
        return json.loads(resp.read() or b"[]")


def render(replies: list[dict]) -> tuple[list[str], bool | None]:
    """Printable lines and the voice switch a reply may carry."""
    lines, voice = [], None
    for reply in replies:
        if reply.get("text"):
            lines.append(reply["text"])
        custom = reply.get("custom") or {}
        if "voice" in custom:
            voice = bool(custom["voice"])
    return lines, voice


def repl(cfg: Settings, sender: str | None = None) -> None:
    """Read lines until EOF or /quit; answers are printed and, with /voice, spoken."""
    sender = sender or f"local-{uuid.uuid4().hex[:8]}"
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
        if len(text) > MAX_CHARS:
            print("助手：" + say("utter_bot_too_long", limit=MAX_CHARS))
            text = text[:MAX_CHARS]
        try:
            lines, voice = render(send(cfg, sender, text))
        except OSError:
            print("助手：" + say("utter_bot_service_down"))
            continue
        if voice is not None:
            speak = voice
        for line in lines:
            print("助手：" + line)
        if speak and lines:
            from speech.voice_note import speak_local

            speak_local("\n".join(lines))
