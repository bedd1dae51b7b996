"""Residents through the bridge in-process: the real PTB Application, offline Telegram, and the
session's real Rasa and action server where a test takes `rasa`."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from bot.runtime import sender_id
from common.texts import say
from speech.normalize import to_speakable
from speech.voice_note import decode_opus, duration_seconds
from tests.bot.conftest import STAFF_CHAT, Start, card_texts, new_person
from tests.conftest import Services
from tests.fakes.bot_api import BotApi, message_update
from tests.fakes.tcp_proxy import TcpProxy
from tests.speech.conftest import measure_wav

QUESTION = "我妈瘫在床上，护理补贴怎么申请"
OGG = b"OggS\x00\x02" + bytes(range(256)) * 8


def voice_state(on: bool, speed: str) -> str:
    return say("utter_bot_voice_state", state=say("utter_word_on" if on else "utter_word_off"), speed=speed)


def check_voice_notes(api: BotApi, chat: int, since: int, text: str, tmp: Path) -> None:
    """The reply since `since` is spoken as ONE voice note made for the ear (speech.spoken):
    not silent, and shorter than its written text would take (no 来源 titles). A repeated
    question gets the detail, which has no spoken form and is spoken as written."""
    (call,) = api.sent("sendVoice", chat, since)
    ogg = tmp / "note.ogg"
    ogg.write_bytes(call.files["voice"])
    assert ogg.read_bytes()[:4] == b"OggS"
    seconds = duration_seconds(ogg)
    assert measure_wav(decode_opus(ogg, tmp / "note.wav")).rms > 300
    written = len(re.findall(r"[\u4e00-\u9fff]", to_speakable(text)))
    assert 1.0 < seconds < written * 0.6, (seconds, written)  # one note; 40 s: test_voice_in.py


def user_texts(services: Services, sender: str) -> list[str]:
    """What `sender` said according to Rasa's tracker."""
    return [e.get("text") or "" for e in services.tracker(sender)["events"] if e["event"] == "user"]


async def test_start_answer_voice_and_settings_survive_restart(rasa: Services, start: Start, tmp_path: Path) -> None:
    h = await start()
    me = new_person()
    assert await h.say(me, "/start", "王阿姨") == [say("utter_bot_start")]
    first = h.api.sent("sendMessage", me)[-1]
    assert "parse_mode" not in first.params and first.params["reply_markup"] == {"remove_keyboard": True}

    (answer,) = await h.say(me, QUESTION)
    assert "来源：" in answer and "补贴" in answer and not h.api.sent("sendVoice", me)
    assert "parse_mode" not in h.api.sent("sendMessage", me)[-1].params

    assert await h.say(me, "/voice") == [voice_state(True, "正常")]
    assert await h.say(me, "/faster") == [say("utter_bot_speed", speed="快一点")]
    assert await h.say(me, "/slower") == [say("utter_bot_speed", speed="正常")]
    mark = h.api.mark()
    (answer,) = await h.say(me, QUESTION)
    check_voice_notes(h.api, me, mark, answer, tmp_path)
    assert await h.say(me, "/slower") == [say("utter_bot_speed", speed="慢一点")]
    await h.stop()  # graceful: PTB flushes the persistence

    h = await start(api=h.api)
    assert {k: h.app.user_data[me][k] for k in ("voice", "rate")} == {"voice": True, "rate": 130}
    mark = h.api.mark()
    assert await h.say(me, "谢谢") == [say("utter_thanks")]
    assert h.api.sent("sendVoice", me, since=mark)  # still speaking after the restart
    assert await h.say(me, "/voice") == [voice_state(False, "慢一点")]


async def test_voice_on_from_free_text_through_rasa(rasa: Services, start: Start) -> None:
    h = await start()
    me = new_person()
    assert await h.say(me, "开语音") == [say("utter_voice_on")]
    assert h.app.user_data[me]["voice"] is True and h.api.sent("sendVoice", me)
    assert await h.say(me, "关语音") == [say("utter_voice_off")]
    assert h.app.user_data[me]["voice"] is False


async def test_burst_of_50_is_rate_limited_in_order_and_others_are_answered(rasa: Services, start: Start) -> None:
    limit = 5  # a small limit keeps Rasa's share of the test short; the logic is the same
    h = await start(rate_window=600.0, RATE_LIMIT_PER_MINUTE=str(limit))
    me, other = new_person(), new_person()
    burst = [h.send(message_update(h.api, me, me, text=f"谢谢{i}")) for i in range(50)]
    other_turn = h.say(other, "谢谢")
    *_, other_answer = await asyncio.gather(*burst, other_turn)
    assert other_answer == [say("utter_thanks")]
    mine = h.api.texts(me)
    assert mine.count(say("utter_bot_rate_limited")) == 1
    assert mine.count(say("utter_thanks")) == limit
    # the accepted ones are the first five, and they reached Rasa in the order sent
    assert user_texts(rasa, sender_id(me, me)) == [f"谢谢{i}" for i in range(limit)]


async def test_a_chats_messages_reach_rasa_in_order(rasa: Services, start: Start) -> None:
    h = await start()
    me = new_person()
    texts = ["你好", "护理补贴怎么申请", "要带什么材料", "谢谢"]
    await asyncio.gather(*(h.send(message_update(h.api, me, me, text=t)) for t in texts))
    assert user_texts(rasa, sender_id(me, me)) == texts


async def test_long_message_is_cut_and_told(rasa: Services, start: Start) -> None:
    h = await start(MAX_MESSAGE_CHARS="50")
    me = new_person()
    replies = await h.say(me, "护理补贴怎么申请" + "啊" * 3000)
    assert replies[0] == say("utter_bot_too_long", limit=50)
    assert user_texts(rasa, sender_id(me, me)) == [("护理补贴怎么申请" + "啊" * 3000)[:50]]


async def test_unsupported_media_and_empty_text(start: Start) -> None:
    h = await start()
    me = new_person()
    unsupported = [say("utter_bot_unsupported")]
    photo = [{"file_id": "p1", "file_unique_id": "p1", "width": 10, "height": 10}]
    sticker = {"file_id": "s1", "file_unique_id": "s1", "type": "regular", "width": 1, "height": 1,
               "is_animated": False, "is_video": False}  # fmt: skip
    document = {"file_id": "d1", "file_unique_id": "d1", "file_name": "证明.pdf", "mime_type": "application/pdf"}
    for content in (
        {"photo": photo, "caption": "看看这个"},
        {"sticker": sticker},
        {"location": {"latitude": 24.95, "longitude": 115.65}},
        {"document": document},
    ):
        mark = h.api.mark()
        await h.send(message_update(h.api, me, me, **content))
        assert h.api.texts(me, mark) == unsupported, content
    assert await h.say(me, "   ") == [say("utter_empty")]
    assert await h.say(me, "/restart_everything") == [say("utter_bot_help")]  # never reaches Rasa


async def test_rasa_down_apology_then_help_request_recorded(start: Start) -> None:
    h = await start()
    me = new_person()
    assert await h.say(me, "我家的轮椅坏了，没人修", "阿华") == [say("utter_bot_service_down")]
    (recorded,) = await h.say(me, "转人工", "阿华")
    number = re.search(r"XW-[0-9A-Z]{5}", recorded).group(0)
    assert recorded == say("utter_bot_down_recorded", ticket=number)
    ticket = h.store.get(number)
    assert (ticket.sender_id, ticket.contact_name, ticket.category) == (sender_id(me, me), "阿华", "其他")
    assert "我家的轮椅坏了，没人修" in ticket.description
    await h.deliver()
    assert card_texts(h.api, number)
    assert await h.say(me, "人工") == [recorded]  # again during the same outage: the same ticket
    assert await h.say(me, "/start") == [say("utter_bot_start")]


async def test_rasa_comes_back_the_bridge_reconnects(rasa: Services, start: Start, rasa_proxy: TcpProxy) -> None:
    h = await start(RASA_PORT=str(rasa_proxy.port))
    me = new_person()
    rasa_proxy.down()
    assert await h.say(me, QUESTION) == [say("utter_bot_service_down")]
    rasa_proxy.up()
    (answer,) = await h.say(me, QUESTION)
    assert "来源：" in answer


async def test_voice_message_forwarded_to_staff_with_audio(start: Start) -> None:
    h = await start()
    me = new_person()
    voice = {"file_id": "voice-of-laochen", "file_unique_id": "v1", "duration": 4, "mime_type": "audio/ogg"}
    mark = h.api.mark()
    await h.send(message_update(h.api, me, me, "老陈", voice=voice))
    assert h.api.texts(me, mark) == [say("utter_bot_voice_message")]
    assert h.api.sent("sendMessage", me)[-1].params["reply_markup"]["keyboard"] == [[{"text": "1"}, {"text": "2"}]]
    (done,) = await h.say(me, "1", "老陈")
    number = re.search(r"XW-[0-9A-Z]{5}", done).group(0)
    assert done == say("utter_bot_voice_forwarded", ticket=number)
    ticket = h.store.get(number)
    assert (ticket.audio_file, ticket.contact_name, ticket.description) == (
        "voice-of-laochen",
        "老陈",
        say("utter_staff_desc_voice"),
    )
    await h.deliver()
    await h.deliver()  # the audio is its own row, queued when the card went out
    (audio,) = h.api.sent("sendVoice", STAFF_CHAT)
    assert audio.params["voice"] == "voice-of-laochen"
    card = h.card(ticket)
    assert audio.params["reply_parameters"]["message_id"] == card["message_id"]
    assert len(card_texts(h.api, number)) == 1

    mark = h.api.mark()
    await h.send(message_update(h.api, me, me, voice={**voice, "file_id": "second"}))
    assert await h.say(me, "2") == [say("utter_bot_voice_declined")]
    assert len(h.store.for_sender(sender_id(me, me))) == 1
