"""Voice through the bridge in-process: spoken questions in (the real Whisper-base recogniser
from the pinned wheels, on the committed clips in tests/data/asr), read back, confirmed or
not; and answers out as ONE voice note made for the ear (the real espeak-ng voice).

The recogniser loads once for the session (`recogniser`); tests that need Rasa take `rasa`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.listening import HEARD
from bot.runtime import sender_id
from bot.speaking import LAST_KEY, LISTENER_KEY
from common.config import settings
from common.texts import say
from speech import asr, engine
from speech.spoken import Listener, parse, plan, plan_for, plan_key, read_back, spoken_text
from speech.voice_note import duration_seconds
from tests.bot.conftest import STAFF_CHAT, Harness, Start, card_texts, new_person
from tests.conftest import Services
from tests.fakes.bot_api import JSON, message_update

CLIPS = Path(__file__).resolve().parents[1] / "data" / "asr"
NUMBER = re.compile(r"XW-[0-9A-Z]{5}")
KEYBOARD_1_2 = [[{"text": "1"}, {"text": "2"}]]


@pytest.fixture(scope="session")
def recogniser() -> Iterator[None]:
    """Whisper base, loaded once for every test here (speech.asr keeps it per process)."""
    saved = {k: os.environ.get(k) for k in ("ASR_ENABLED", "HF_HUB_OFFLINE")}
    os.environ.update({"ASR_ENABLED": "1", "HF_HUB_OFFLINE": "1"})
    try:
        assert asr.preload(), "the Whisper-base wheels (requirements/models.txt) must be installed"
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


async def listening(start: Start, **env: str) -> Harness:
    return await start(ASR_ENABLED="1", **env)


async def send_voice(h: Harness, me: int, clip: str | bytes, file_id: str, **extra: object) -> list[str]:
    """The resident sends a voice message (a committed clip, or raw bytes); the texts answered."""
    data = clip if isinstance(clip, bytes) else (CLIPS / clip).read_bytes()
    voice = {**h.api.add_file(file_id, data), **extra}
    mark = h.api.mark()
    await h.send(message_update(h.api, me, me, "秀英", voice=voice))
    return h.api.texts(me, mark)


def last_keyboard(h: Harness, me: int) -> object:
    return h.api.sent("sendMessage", me)[-1].params["reply_markup"].get("keyboard")


def heard(h: Harness, me: int) -> str:
    return h.app.user_data[me][HEARD]["text"]


async def test_a_spoken_question_is_read_back_in_text_and_voice(recogniser: None, start: Start) -> None:
    h = await listening(start)
    me = new_person()
    mark = h.api.mark()
    (back,) = await send_voice(h, me, "nursing-subsidy.ogg", "v-nursing")
    transcript = heard(h, me)
    assert asr.character_error_rate("护理补贴怎么申请", transcript) <= 0.35, transcript
    assert back == read_back(transcript) and transcript.rstrip("。？") in back
    assert last_keyboard(h, me) == KEYBOARD_1_2
    (note,) = h.api.sent("sendVoice", me, since=mark)  # they spoke to us: the read-back is spoken too
    assert note.files["voice"][:4] == b"OggS"
    assert [c.method for c in h.api.calls[mark:]].count("sendChatAction") >= 1  # "typing…" while listening
    assert any(c.method == "downloadFile" for c in h.api.calls[mark:])
    assert not list((settings().data_dir / "voice-in").iterdir())  # the download is gone
    assert not h.store.for_sender(sender_id(me, me))


async def test_yes_sends_the_transcript_on_like_typed_text(recogniser: None, start: Start) -> None:
    """Rasa is unreachable here: the answer is the bridge's own, so the transcript reached converse()."""
    h = await listening(start)
    me = new_person()
    await send_voice(h, me, "card-where.ogg", "v-card")
    transcript = heard(h, me)
    assert await h.say(me, "对") == [say("utter_bot_service_down")]
    assert h.app.bridge.recent(sender_id(me, me)) == [transcript]
    assert HEARD not in h.app.user_data[me]
    # a spoken answer is heard with the yes/no prompt; this clip's 对 is too short for Whisper
    # base (tests/speech/test_asr.py): the bridge asks for 1 or 2 and keeps what it heard
    await send_voice(h, me, "child-school.ogg", "v-school")
    second = heard(h, me)
    assert await send_voice(h, me, "yes.ogg", "v-yes") == [say("utter_asr_confirm_again")]
    assert heard(h, me) == second and last_keyboard(h, me) == KEYBOARD_1_2
    assert await h.say(me, "１") == [say("utter_bot_service_down")]
    assert h.app.bridge.recent(sender_id(me, me))[-1] == second


async def test_no_offers_a_person_and_the_audio_goes_with_the_transcript(recogniser: None, start: Start) -> None:
    h = await listening(start)
    me = new_person()
    await send_voice(h, me, "living-subsidy.ogg", "v-living")
    transcript = heard(h, me)
    assert await h.say(me, "2") == [say("utter_asr_wrong")]
    assert last_keyboard(h, me) == KEYBOARD_1_2
    (done,) = await h.say(me, "1", "秀英")
    number = NUMBER.search(done).group(0)
    assert done == say("utter_bot_voice_forwarded", ticket=number)
    ticket = h.store.get(number)
    assert ticket.audio_file == "v-living" and transcript in ticket.description
    await h.deliver()
    await h.deliver()
    (card,) = card_texts(h.api, number)
    assert transcript in card
    (audio,) = h.api.sent("sendVoice", STAFF_CHAT)
    assert audio.params["voice"] == "v-living"

    # a spoken 不对 does the same
    await send_voice(h, me, "job.ogg", "v-job")
    assert await send_voice(h, me, "no.ogg", "v-no") == [say("utter_asr_wrong")]
    assert await h.say(me, "2") == [say("utter_bot_voice_declined")]
    assert len(h.store.for_sender(sender_id(me, me))) == 1


async def test_bad_recordings_get_a_short_answer_and_store_nothing(recogniser: None, start: Start) -> None:
    h = await listening(start)
    me = new_person()
    (answer,) = await send_voice(h, me, b"OggS\x00\x02" + bytes(range(256)) * 8, "v-corrupt")
    assert answer == say("utter_asr_unreadable") and "转人工" in answer
    too_long = await send_voice(h, me, "job.ogg", "v-long", duration=600)
    assert too_long == [say("utter_asr_too_long", limit=settings().asr_max_seconds)]
    video = {"file_id": "vn-1", "file_unique_id": "u-vn", "length": 240, "duration": 3}
    mark = h.api.mark()
    await h.send(message_update(h.api, me, me, video_note=video))
    assert h.api.texts(me, mark) == [say("utter_asr_video")]
    # not even the download of a refused one: 10 minutes are refused from the message itself
    assert not [c for c in h.api.calls if c.method == "getFile" and c.params.get("file_id") in ("v-long", "vn-1")]
    data = h.app.user_data.get(me, {})
    assert HEARD not in data and "asked_for_staff" not in data
    assert not h.store.for_sender(sender_id(me, me))
    # and "1" afterwards means nothing special: it goes on as usual (Rasa is down here)
    assert await h.say(me, "1") == [say("utter_bot_service_down")]
    assert not h.store.for_sender(sender_id(me, me))


async def test_with_recognition_off_a_voice_message_is_offered_to_staff(start: Start) -> None:
    h = await start(ASR_ENABLED="0")
    me = new_person()
    assert await send_voice(h, me, "nursing-subsidy.ogg", "v-off") == [say("utter_bot_voice_message")]
    assert not [c for c in h.api.calls if c.method == "getFile"]
    (done,) = await h.say(me, "1")
    ticket = h.store.get(NUMBER.search(done).group(0))
    assert ticket.audio_file == "v-off"


# --------------------------------------------------------------------------- answers out


def sent_note(h: Harness, me: int, since: int) -> JSON:
    (note,) = h.api.sent("sendVoice", me, since=since)  # ONE voice note per answer
    return note


def speech_payloads(rasa: Services, question: str) -> list[JSON]:
    """The speech payloads Rasa sends after its first answer to `question` (a new sender each time)."""
    replies = rasa.send(f"probe-{new_person()}", question)
    return [r["custom"] for r in replies if "speech" in (r.get("custom") or {})]


def cached_note(pieces: list, rate: int) -> Path:
    return settings().data_dir / "speech-cache" / f"spoken-{plan_key(pieces, engine.current().name, rate)}.ogg"


async def test_a_knowledge_answer_is_spoken_from_its_payload(rasa: Services, start: Start, tmp_path: Path) -> None:
    h = await start()
    me = new_person()
    question, other = "护理补贴怎么申请", "残疾人证怎么办"
    (payload,) = speech_payloads(rasa, question)
    (other_payload,) = speech_payloads(rasa, other)
    assert await h.say(me, "/voice") == [say("utter_bot_voice_state", state=say("utter_word_on"), speed="正常")]
    mark = h.api.mark()
    (answer,) = await h.say(me, question)
    note = sent_note(h, me, mark)
    rate = settings().tts_rate
    pieces = plan_for(answer, payload, Listener())
    said = spoken_text(pieces)
    assert payload["speech"].split("。")[0] in said
    assert not any(name in said for name in parse(answer).sources)  # not the 来源 titles
    assert pieces != plan(answer)
    assert note.files["voice"] == cached_note(pieces, rate).read_bytes()
    ogg = tmp_path / "answer.ogg"
    ogg.write_bytes(note.files["voice"])
    assert 1.0 < duration_seconds(ogg) <= 40.0
    assert h.app.user_data[me][LAST_KEY] == {"text": answer, "speech": payload}

    # "念短一点": Rasa's listen message changes the stored Listener, and it is kept
    mark = h.api.mark()
    assert await h.say(me, "念短一点") == [say("utter_voice_shorter")]
    assert h.app.user_data[me][LISTENER_KEY] == Listener(shorter=True).to_dict()
    assert h.app.user_data[me][LAST_KEY]["text"] == answer  # the confirmation is not the last answer
    mark = h.api.mark()
    (again,) = await h.say(me, other)
    shorter = plan_for(again, other_payload, Listener(shorter=True))
    assert sent_note(h, me, mark).files["voice"] == cached_note(shorter, rate).read_bytes()

    # "再念一遍": the last answer once more, as this listener wants it
    mark = h.api.mark()
    assert await h.say(me, "再念一遍") == [say("utter_voice_repeat")]
    assert sent_note(h, me, mark).files["voice"] == cached_note(shorter, rate).read_bytes()


async def test_a_confirmed_spoken_question_is_answered_by_rasa(recogniser: None, rasa: Services, start: Start) -> None:
    h = await listening(start)
    me = new_person()
    (back,) = await send_voice(h, me, "nursing-subsidy.ogg", "v-rasa")
    transcript = heard(h, me)
    texts = await h.say(me, "1")
    said = [e.get("text") for e in rasa.tracker(sender_id(me, me))["events"] if e["event"] == "user"]
    assert said == [transcript]
    assert any("护理补贴" in t for t in texts) and back not in texts


async def test_a_help_request_started_by_voice_keeps_the_audio(recogniser: None, rasa: Services, start: Start) -> None:
    h = await listening(start, RATE_LIMIT_PER_MINUTE="200")
    me = new_person()
    await send_voice(h, me, "find-staff.ogg", "v-help")
    transcript = heard(h, me)
    for answer in ("1", "王阿姨", "13812345678", "1", "1", "护理补贴三个月没到账"):
        await h.say(me, answer, "秀英")
    await h.say(me, "0", "秀英")
    (ticket,) = h.store.for_sender(sender_id(me, me))
    (voice,) = [m for m in h.store.messages(ticket.number) if m["kind"] == "voice"]
    assert voice["file_id"] == "v-help" and transcript in voice["text"]
    await h.deliver()
    await h.deliver()
    await h.deliver()
    (audio,) = h.api.sent("sendVoice", STAFF_CHAT)
    assert audio.params["voice"] == "v-help" and transcript in audio.params["caption"]


async def test_longer_and_faster_undo_the_listener_in_the_bridge(start: Start) -> None:
    """Rasa has no intent for these (it is unreachable here): the bridge itself applies them."""
    h = await start()
    me = new_person()
    await h.say(me, "/start")
    h.app.user_data[me][LISTENER_KEY] = Listener(shorter=True, slower=True).to_dict()
    assert await h.say(me, "念完整") == [say("utter_bot_listen_longer")]
    assert await h.say(me, "念快一点") == [say("utter_bot_listen_faster")]
    assert h.app.user_data[me][LISTENER_KEY] == Listener().to_dict()
    assert await h.say(me, "再念一遍") == [say("utter_bot_service_down")]  # this one is Rasa's
