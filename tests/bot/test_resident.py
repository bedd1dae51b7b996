"""Residents through the bridge: the real Rasa and action server, the real PTB, the fake Bot API."""

from __future__ import annotations

import re
import time
from pathlib import Path

from bot.runtime import sender_id
from common.texts import say
from speech.normalize import to_speakable
from speech.voice_note import decode_opus, duration_seconds, split_chunks
from tests.bot.conftest import (
    RASA_WAIT,
    STAFF_CHAT,
    Bridges,
    card_calls,
    eventually,
    new_person,
    texts,
    user_texts,
    wait_card,
    wait_text,
)
from tests.conftest import Services, free_port
from tests.fakes.telegram_api import FakeTelegramAPI
from tests.speech.conftest import Audio, assert_plausible_speech, measure_wav

QUESTION = "我妈瘫在床上，护理补贴怎么申请"
OGG = b"OggS\x00\x02" + bytes(range(256)) * 8


def voice_state(on: bool, speed: str) -> str:
    return say("utter_bot_voice_state", state=say("utter_word_on" if on else "utter_word_off"), speed=speed)


def check_voice_notes(fake: FakeTelegramAPI, chat: int, since: int, text: str, tmp: Path) -> None:
    """The voice notes sent since `since` speak `text`: plausible length, not silent."""
    chunks = split_chunks(to_speakable(text))
    calls = fake.wait_for(
        lambda: (
            (found := [c for c in fake.calls("sendVoice", chat, since=since) if c.ok])
            and len(found) >= len(chunks)
            and found
        ),
        timeout=120,
        what=f"{len(chunks)} voice notes",
    )
    total, quietest = 0.0, float("inf")
    for i, call in enumerate(calls):
        ogg = tmp / f"note-{i}.ogg"
        ogg.write_bytes(call.files["voice"])
        assert ogg.read_bytes()[:4] == b"OggS"
        total += duration_seconds(ogg)
        quietest = min(quietest, measure_wav(decode_opus(ogg, tmp / f"note-{i}.wav")).rms)
    assert_plausible_speech(Audio(seconds=total, rms=quietest), "".join(chunks))


def test_start_answer_voice_and_settings_survive_restart(
    rasa_bridges: Bridges, fake: FakeTelegramAPI, tmp_path: Path
) -> None:
    runner = rasa_bridges.in_process()
    me = new_person()

    fake.push_command(me, me, "/start", first_name="王阿姨")
    start = wait_text(fake, me, say("utter_bot_start"))
    assert start.params["text"] == say("utter_bot_start")
    assert "parse_mode" not in start.params and start.params["reply_markup"] == {"remove_keyboard": True}

    mark = fake.mark()
    fake.push_text(me, me, QUESTION)
    answer = wait_text(fake, me, "来源：", since=mark, timeout=RASA_WAIT)
    assert "补贴" in answer.params["text"] and "parse_mode" not in answer.params
    assert not fake.calls("sendVoice", me)

    mark = fake.mark()
    fake.push_command(me, me, "/voice")
    wait_text(fake, me, voice_state(True, "正常"), since=mark)
    fake.push_command(me, me, "/faster")
    wait_text(fake, me, say("utter_bot_speed", speed="快一点"), since=mark)
    fake.push_command(me, me, "/slower")
    wait_text(fake, me, say("utter_bot_speed", speed="正常"), since=mark)

    mark = fake.mark()
    fake.push_text(me, me, QUESTION)
    answer = wait_text(fake, me, "来源：", since=mark, timeout=RASA_WAIT)
    check_voice_notes(fake, me, mark, answer.params["text"], tmp_path)

    fake.push_command(me, me, "/slower")
    wait_text(fake, me, say("utter_bot_speed", speed="慢一点"), since=mark)
    runner.stop()  # graceful: PTB flushes the persistence

    runner = rasa_bridges.in_process()
    assert runner.app.user_data[me] == {"voice": True, "rate": 130}
    mark = fake.mark()
    fake.push_text(me, me, "谢谢")
    wait_text(fake, me, lambda t: t != say("utter_bot_rate_limited"), since=mark, timeout=RASA_WAIT)
    fake.wait_for_call("sendVoice", me, since=mark, timeout=60)  # still speaking after the restart
    fake.push_command(me, me, "/voice")
    wait_text(fake, me, voice_state(False, "慢一点"), since=mark)


def test_voice_on_from_free_text_through_rasa(rasa_bridges: Bridges, fake: FakeTelegramAPI) -> None:
    runner = rasa_bridges.in_process()
    me = new_person()
    fake.push_text(me, me, "开语音")
    wait_text(fake, me, say("utter_voice_on"), timeout=RASA_WAIT)
    eventually(lambda: runner.app.user_data.get(me, {}).get("voice") is True)
    fake.wait_for_call("sendVoice", me, timeout=60)
    mark = fake.mark()
    fake.push_text(me, me, "关语音")
    wait_text(fake, me, say("utter_voice_off"), since=mark, timeout=RASA_WAIT)
    assert runner.app.user_data[me]["voice"] is False


def test_burst_of_50_is_rate_limited_and_the_bridge_lives_on(
    rasa_bridges: Bridges, fake: FakeTelegramAPI, services: Services
) -> None:
    limit, window = 5, 2.0  # a small limit keeps Rasa's share of the test short; the logic is the same
    rasa_bridges.in_process(rate_window=window, RATE_LIMIT_PER_MINUTE=str(limit))
    me, other = new_person(), new_person()
    for _ in range(50):
        fake.push_text(me, me, "谢谢")
    limited = say("utter_bot_rate_limited")
    wait_text(fake, me, limited)
    told = time.monotonic()  # the accepted messages were stamped before this notice was sent
    fake.push_text(other, other, "谢谢")  # someone else is answered meanwhile
    wait_text(fake, other, say("utter_thanks"), timeout=RASA_WAIT)

    def forwarded() -> int:
        return len(user_texts(services, sender_id(me, me)))

    fake.wait_for(
        lambda: texts(fake, me).count(say("utter_thanks")) == limit, RASA_WAIT, "every forwarded one answered"
    )
    assert texts(fake, me).count(limited) == 1
    assert forwarded() == limit

    time.sleep(max(0.0, window - (time.monotonic() - told)) + 0.1)  # the window is time itself
    mark = fake.mark()
    fake.push_text(me, me, "谢谢")
    wait_text(fake, me, say("utter_thanks"), since=mark, timeout=RASA_WAIT)
    assert forwarded() == limit + 1


def test_long_message_is_cut_and_told(rasa_bridges: Bridges, fake: FakeTelegramAPI, services: Services) -> None:
    rasa_bridges.in_process(MAX_MESSAGE_CHARS="50")
    me = new_person()
    fake.push_text(me, me, "护理补贴怎么申请" + "啊" * 3000)
    wait_text(fake, me, say("utter_bot_too_long", limit=50), timeout=RASA_WAIT)
    assert user_texts(services, sender_id(me, me)) == [("护理补贴怎么申请" + "啊" * 3000)[:50]]


def test_unsupported_media_and_empty_text(bridges: Bridges, fake: FakeTelegramAPI) -> None:
    bridges.in_process()
    me = new_person()
    unsupported = say("utter_bot_unsupported")
    fake.push_photo(me, me, b"\xff\xd8\xff\xe0 not really a jpeg", caption="看看这个")
    wait_text(fake, me, unsupported)
    fake.push_sticker(me, me)
    fake.push_location(me, me, 24.95, 115.65)
    fake.push_document(me, me, b"%PDF-1.4", file_name="证明.pdf", mime_type="application/pdf")
    fake.wait_for(lambda: texts(fake, me).count(unsupported) == 4, what="4 polite refusals")
    mark = fake.mark()
    fake.push_text(me, me, "   ")
    wait_text(fake, me, say("utter_empty"), since=mark)
    fake.push_command(me, me, "/restart_everything")  # unknown commands never reach Rasa
    wait_text(fake, me, say("utter_bot_help"), since=mark)


def test_rasa_down_apology_then_help_request_recorded(bridges: Bridges, fake: FakeTelegramAPI, store) -> None:  # noqa: ANN001
    bridges.in_process()
    me = new_person()
    fake.push_text(me, me, "我家的轮椅坏了，没人修", first_name="阿华")
    wait_text(fake, me, say("utter_bot_service_down"))
    mark = fake.mark()
    fake.push_text(me, me, "转人工")
    recorded = wait_text(fake, me, "求助编号", since=mark)
    number = re.search(r"XW-[0-9A-Z]{5}", recorded.params["text"]).group(0)
    assert recorded.params["text"] == say("utter_bot_down_recorded", ticket=number)
    ticket = store.get(number)
    assert (ticket.sender_id, ticket.contact_name, ticket.category) == (sender_id(me, me), "阿华", "其他")
    assert "我家的轮椅坏了，没人修" in ticket.description
    wait_card(fake, number)
    mark = fake.mark()
    fake.push_text(me, me, "人工")  # again during the same outage: the same ticket
    assert wait_text(fake, me, "求助编号", since=mark).params["text"] == recorded.params["text"]
    fake.push_command(me, me, "/start")  # and the bridge is still there
    wait_text(fake, me, say("utter_bot_start"), since=mark)


def test_rasa_comes_back_the_bridge_reconnects(
    rasa_bridges: Bridges, fake: FakeTelegramAPI, services: Services, rasa_proxy
) -> None:  # noqa: ANN001
    rasa_bridges.in_process(RASA_PORT=str(rasa_proxy.port))
    me = new_person()
    rasa_proxy.down()
    fake.push_text(me, me, QUESTION)
    wait_text(fake, me, say("utter_bot_service_down"))
    rasa_proxy.up()
    mark = fake.mark()
    fake.push_text(me, me, QUESTION)
    wait_text(fake, me, "来源：", since=mark, timeout=RASA_WAIT)


def test_voice_message_forwarded_to_staff_with_audio(bridges: Bridges, fake: FakeTelegramAPI, store) -> None:  # noqa: ANN001
    bridges.in_process()
    me = new_person()
    pushed = fake.push_voice(me, me, OGG, duration=4, first_name="老陈")
    offer = wait_text(fake, me, say("utter_bot_voice_message"))
    assert offer.params["reply_markup"]["keyboard"] == [[{"text": "1"}, {"text": "2"}]]
    mark = fake.mark()
    fake.push_text(me, me, "1")
    done = wait_text(fake, me, "求助编号", since=mark)
    number = re.search(r"XW-[0-9A-Z]{5}", done.params["text"]).group(0)
    assert done.params["text"] == say("utter_bot_voice_forwarded", ticket=number)
    ticket = store.get(number)
    assert (ticket.audio_file, ticket.contact_name, ticket.description) == (
        pushed.file_id,
        "老陈",
        say("utter_staff_desc_voice"),
    )
    card = wait_card(fake, number)
    audio = fake.wait_for_call("sendVoice", STAFF_CHAT)
    assert audio.params["voice"] == pushed.file_id
    assert audio.params["reply_parameters"]["message_id"] == card.result["message_id"]
    assert audio.result["voice"]["file_id"] == pushed.file_id
    assert len(card_calls(fake, number)) == 1

    mark = fake.mark()
    fake.push_voice(me, me, OGG, duration=2)
    wait_text(fake, me, say("utter_bot_voice_message"), since=mark)
    fake.push_text(me, me, "2")
    wait_text(fake, me, say("utter_bot_voice_declined"), since=mark)
    assert len(store.for_sender(sender_id(me, me))) == 1


def test_webhook_mode_with_secret(bridges: Bridges, fake: FakeTelegramAPI) -> None:
    port = free_port()
    bridges.in_process(
        TELEGRAM_MODE="webhook",
        TELEGRAM_WEBHOOK_URL=f"http://127.0.0.1:{port}/tg/hook",
        TELEGRAM_WEBHOOK_PORT=str(port),
        TELEGRAM_WEBHOOK_SECRET="s3cret-Token_1",
    )
    assert (fake.webhook_url, fake.webhook_secret) == (f"http://127.0.0.1:{port}/tg/hook", "s3cret-Token_1")
    me = new_person()
    fake.push_command(me, me, "/start")
    wait_text(fake, me, say("utter_bot_start"))
    forged = {
        "update_id": 1,
        "message": {
            "message_id": 99,
            "date": int(time.time()),
            "chat": {"id": me, "type": "private", "first_name": "x"},
            "from": {"id": me, "is_bot": False, "first_name": "x"},
            "text": "/help",
        },
    }
    assert fake.post_raw_update(forged, secret="wrong").status == 403
    assert fake.post_raw_update(forged).status == 403
    assert say("utter_bot_help") not in texts(fake, me)
