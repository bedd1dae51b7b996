"""Spoken questions in: a resident's voice message (or audio file) is transcribed offline and
read back before anything is done with it.

1. A voice message that belongs to a ticket's conversation goes to staff first, as before
   (bot/conversation.py `route`).
2. Otherwise, with speech recognition on (ASR_ENABLED, speech.asr), the bridge shows that it
   is busy (a "typing…" chat action, renewed while it listens), downloads the file through
   the Bot API into a temporary folder under the data folder (removed afterwards), and
   transcribes it in a worker thread (`speech.asr.transcribe_async`; one model per process).
3. A trusted transcript is read back, as text with a 1 / 2 keyboard and always as a voice
   note too (they spoke to us): "我听到的是：……。对吗？ 1 对 2 不对". The transcript and the
   file id wait in `user_data[HEARD]` for the answer.
4. 1 / 一 / 对 / 是 … typed, or a second voice message that says 对 / 是 (transcribed with the
   yes/no prompt): the transcript goes through Rasa like typed text (`resident.converse`);
   a help request stored in that conversation within the hour keeps the audio (`keep_audio`).
   2 / 不对 typed or spoken: the resident is offered a person (`conversation.offer_media`),
   and the audio goes to staff with the transcript. A short recording that is neither (the
   recogniser is weak on one-word answers): "请回复1或者2". Anything else: the read-back is
   dropped and the new message is handled as usual (a new voice message is a new question).
5. No trusted transcript (unsure, silence, noise, music, too long, corrupt, a video note, an
   unsupported codec): a short answer from `speech.asr.resident_reply`; for a voice message
   the unsure ones offer the audio to staff (with whatever was heard), the refused ones say
   how to reach a person ("转人工"). Nothing is stored for them.
6. Recognition off, or a recogniser that cannot load: the voice message is offered to staff
   as before (logged once; the offer says the assistant cannot understand voice messages).

Audio files (and audio sent as a document) are transcribed the same way; a staff offer of
their audio needs a voice message (staff receive audio as voice notes), so for them the
bridge asks the resident to say it again or to type 转人工.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from telegram import Message, Update
from telegram.constants import ChatAction
from telegram.error import TelegramError

from bot import conversation
from bot.context import BridgeContext as Context
from bot.outgoing import reply
from bot.runtime import sender_id
from common.texts import say
from speech import asr
from speech.spoken import read_back

log = logging.getLogger(__name__)

ORIGIN = "voice_origin"  # user_data: {"file_id", "note", "at"}: the last confirmed spoken question
ORIGIN_SECONDS = 3600  # a help request stored this soon after it keeps that question's audio
HEARD = "heard"  # user_data: {"text", "file_id", "kind", "caption"}: a read-back waiting for 1 / 2
INCOMING_DIR = "voice-in"  # under the data folder; one temporary folder per recording
SHORT_ANSWER_SECONDS = 3.0  # an unclear recording this short, after a read-back, was meant as 对 / 不对
CHAT_ACTION_EVERY = 4.0  # seconds; Telegram shows a chat action for about five

_told_off = False


@dataclass(frozen=True)
class Media:
    """The recording in a message: voice, audio (a file or a document) or video_note."""

    kind: str
    file_id: str
    duration: int | None = None
    size: int | None = None


def media_of(message: Message) -> Media | None:
    if message.voice:
        v = message.voice
        return Media("voice", v.file_id, v.duration, v.file_size)
    if message.audio:
        a = message.audio
        return Media("audio", a.file_id, a.duration, a.file_size)
    if message.video_note:
        return Media("video_note", message.video_note.file_id, message.video_note.duration)
    doc = message.document
    if doc and (doc.mime_type or "").startswith("audio/"):
        return Media("audio", doc.file_id, None, doc.file_size)
    return None


def staff_note(caption: str, heard: str) -> str:
    """What staff read with the audio: the caption, and what the recogniser heard."""
    parts = [caption.strip(), say("utter_staff_voice_heard", text=heard) if heard else ""]
    return "\n".join(p for p in parts if p)


def _log_off_once(reason: str) -> None:
    global _told_off
    if not _told_off:
        _told_off = True
        log.warning("voice messages are offered to staff as audio: speech recognition is %s", reason)


async def on_voice(update: Update, context: Context) -> None:
    """A voice message, audio file or video note (see the module docstring)."""
    user_data = context.user_data
    user_data.pop(conversation.ASKED, None)
    message = update.message
    media = media_of(message)
    if media is None:
        return
    caption = message.caption or ""
    as_voice = conversation.Item("voice", caption, media.file_id)
    if media.kind == "voice" and await conversation.route(update, context, as_voice):
        user_data.pop(HEARD, None)
        return
    pending = user_data.pop(HEARD, None)
    if media.kind == "video_note":
        await _not_heard(update, context, media, caption, asr.Transcript(reason="video"))
        return
    cfg = context.bridge.cfg
    if not cfg.asr_enabled:
        _log_off_once("off (ASR_ENABLED=0)")
        await _offer_or_retry(update, context, media, as_voice)
        return
    async with _listening(context, update.effective_chat.id):
        ready = await asyncio.to_thread(asr.available)
        if not ready:
            _log_off_once("unavailable (the model did not load, see the log above)")
            await _offer_or_retry(update, context, media, as_voice)
            return
        answer, result = await _transcribe(context, media, yes_no=pending is not None)
    if pending is not None and answer is True:
        await confirmed(update, context, pending)
    elif pending is not None and answer is False:
        await wrong(update, context, pending)
    elif pending is not None and not result.ok and result.audio_seconds <= SHORT_ANSWER_SECONDS:
        user_data[HEARD] = pending  # a short unclear answer to the read-back: ask for 1 or 2
        await reply(update, context, [say("utter_asr_confirm_again")], ["1", "2"], voice=True)
    elif result.ok:
        await ask_back(update, context, media, caption, result.text)
    else:
        await _not_heard(update, context, media, caption, result)


@contextlib.asynccontextmanager
async def _listening(context: Context, chat_id: int) -> Any:
    """Show "typing…" in the chat for as long as the bridge is listening."""

    async def keep_showing() -> None:
        while True:
            with contextlib.suppress(TelegramError):
                await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
            await asyncio.sleep(CHAT_ACTION_EVERY)

    task = asyncio.create_task(keep_showing(), name=f"listening-{chat_id}")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def _transcribe(context: Context, media: Media, *, yes_no: bool) -> tuple[bool | None, asr.Transcript]:
    """Download and transcribe the recording. With `yes_no` (a read-back is waiting) it is first
    heard as an answer to it: (True/False, …) when it says 对 / 不对; else as a new question."""
    cfg = context.bridge.cfg
    if media.duration is not None and media.duration > cfg.asr_max_seconds:
        return None, asr.Transcript(reason="too_long", audio_seconds=float(media.duration))
    if media.size is not None and media.size > asr.MAX_FILE_BYTES:
        return None, asr.Transcript(reason="too_large")
    folder = cfg.data_dir / INCOMING_DIR
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        path = Path(tmp) / "recording"
        try:
            tg_file = await context.bot.get_file(media.file_id)
            await tg_file.download_to_drive(path)
        except (TelegramError, OSError) as exc:
            log.warning("could not download a voice message: %s", exc)
            return None, asr.Transcript(reason="failed")
        if yes_no:
            answer = asr.spoken_confirmation(await asr.transcribe_async(path, expect="yes_no"))
            if answer is not None:
                return answer, asr.Transcript()
        result = await asr.transcribe_async(path, expect="question")
    log.info(
        "heard %.1f s in %.1f s: %s%s",
        result.audio_seconds,
        result.elapsed,
        "ok" if result.ok else result.reason,
        f" (logprob {result.avg_logprob})" if result.avg_logprob is not None else "",
    )
    return None, result


async def ask_back(update: Update, context: Context, media: Media, caption: str, text: str) -> None:
    """Read the transcript back (text and voice) and wait for 1 / 2."""
    context.user_data[HEARD] = {"text": text, "file_id": media.file_id, "kind": media.kind, "caption": caption}
    await reply(update, context, [read_back(text)], ["1", "2"], voice=True)


def confirmation_of(text: str) -> bool | None:
    """A typed answer to the read-back (1 / 一 / 对 / 是 … or 2 / 不对 …), None for anything else."""
    return asr.confirmation(text)


async def confirmed(update: Update, context: Context, heard: dict[str, Any]) -> None:
    """The resident said the transcript is right: it goes to Rasa like typed text."""
    from bot.resident import converse

    text = str(heard.get("text") or "")
    if heard.get("kind") == "voice" and heard.get("file_id"):
        note = staff_note(str(heard.get("caption") or ""), text)
        context.user_data[ORIGIN] = {"file_id": heard["file_id"], "note": note, "at": time.time()}
    await converse(update, context, text, [])


async def keep_audio(update: Update, context: Context, number: str) -> None:
    """A help request was stored in a conversation that began with a spoken question: the audio
    goes on the ticket too (staff hear what the resident said, with what the recogniser heard)."""
    origin = context.user_data.pop(ORIGIN, None)
    if not origin or time.time() - float(origin.get("at", 0)) > ORIGIN_SECONDS:
        return
    b = context.bridge
    sender = sender_id(update.effective_chat.id, update.effective_user.id)
    try:
        await asyncio.to_thread(
            b.store.add_resident_message,
            number,
            sender,
            str(origin.get("note") or ""),
            kind="voice",
            file_id=str(origin["file_id"]),
            via="note",
        )
    except Exception:  # noqa: BLE001 - the ticket is stored; only the audio is missing
        log.exception("could not add the spoken question's audio to %s", number)
        return
    log.info("the audio of the spoken question was added to %s", number)
    b.wake_deliverer()


async def wrong(update: Update, context: Context, heard: dict[str, Any]) -> None:
    """The resident said the transcript is wrong: offer a person, the audio with the transcript."""
    media = Media(str(heard.get("kind") or "voice"), str(heard.get("file_id") or ""))
    note = staff_note(str(heard.get("caption") or ""), str(heard.get("text") or ""))
    item = conversation.Item("voice", note, media.file_id or None)
    await _offer_or_retry(update, context, media, item, say("utter_asr_wrong"))


async def _not_heard(update: Update, context: Context, media: Media, caption: str, result: asr.Transcript) -> None:
    """No trusted transcript: a short answer; for a voice message the unsure ones offer staff the audio."""
    name, text = asr.resident_reply(result)
    log.info("voice message not understood: %s", result.explanation)
    if name in asr.OFFER_STAFF:
        item = conversation.Item("voice", staff_note(caption, result.text), media.file_id)
        await _offer_or_retry(update, context, media, item, text)
    else:
        await reply(update, context, [text], voice=True)


async def _offer_or_retry(
    update: Update, context: Context, media: Media, item: conversation.Item, text: str = ""
) -> None:
    """Offer the voice message to staff with `text` (else the usual offer, naming an open
    ticket). Audio that is not a voice message cannot be passed on as one: the resident is
    asked to say it again or to type 转人工."""
    if media.kind == "voice" and item.file_id:
        await conversation.offer_media(update, context, item, text)
    else:
        await reply(update, context, [say("utter_asr_file_retry")], voice=True)
