"""End to end, a ticket's conversation: the real Rasa server and action server, the real
bridge Application and SQLite, the offline Bot API playing Telegram for the resident and the
staff group. Every message here has a plain meaning for the contract intents (request_help,
human, add_to_ticket, choose …), so a new understanding step keeps them working.

Also: the same threading without Telegram (a REST / terminal-chat sender adds to a ticket).
"""

from __future__ import annotations

from bot.runtime import sender_id
from common.texts import say
from tests.bot.conftest import STAFF_CHAT, STAFF_USER, Harness, Start, new_person
from tests.conftest import Services
from tests.fakes.bot_api import JSON, message_update, reply_update
from tickets.store import Ticket, store_for


async def file_request(h: Harness, me: int, *, phone: str = "13812345678", name: str = "王阿姨") -> Ticket:
    """The help form from 转人工 to the ticket number (digits for the choices)."""

    async def answer(text: str) -> str:
        return "\n".join(await h.say(me, text, "秀英"))

    await answer("转人工")
    await answer(name)
    await answer(phone)
    await answer("1")
    await answer("1")
    await answer("护理补贴三个月没到账")
    await answer("0")  # the number comes through the outbox (stored first)
    await h.deliver()
    latest = h.store.for_sender(sender_id(me, me), 1)[0]
    assert any(latest.number in t for t in h.api.texts(me)), h.api.texts(me)
    return latest


def thread(h: Harness, ticket: Ticket, since: int = 0) -> list[str]:
    """Texts and captions that reached the staff group as replies to the ticket's card."""
    card = h.card(ticket)["message_id"]
    return [
        c.params.get("text") or c.params.get("caption") or ""
        for c in h.api.calls[since:]
        if c.ok
        and c.chat_id == STAFF_CHAT
        and c.method in ("sendMessage", "sendVoice", "sendPhoto")
        and (c.params.get("reply_parameters") or {}).get("message_id") == card
    ]


def staff_message(h: Harness, me: int) -> JSON:
    return h.api.sent("sendMessage", me)[-1].result


async def test_a_resident_replies_to_staff_and_answers_a_question(rasa: Services, start: Start) -> None:
    h = await start(RATE_LIMIT_PER_MINUTE="200")  # a long conversation in seconds
    me = new_person()
    ticket = await file_request(h, me)
    card = h.card(ticket)

    await h.staff_says(STAFF_USER, "王阿姨您好，我们下周三上门。", reply_to=card)
    await h.deliver()
    mark = h.api.mark()
    await h.send(reply_update(h.api, me, me, "好的 谢谢王干事 那罗珊乡民政所礼拜六开门么", staff_message(h, me)))
    assert h.api.texts(me, mark) == [say("utter_bot_passed_on", ticket=ticket.number)]
    await h.deliver()
    assert any(t.endswith("那罗珊乡民政所礼拜六开门么") for t in thread(h, ticket, mark))

    # staff ask back; the resident's answer (the slip: it was "这个数字我没对上") comes back
    assert await h.staff_says(STAFF_USER, "您家里白天有人在吗？", reply_to=card) == [
        say("utter_staff_asked_sent", ticket=ticket.number)
    ]
    await h.deliver()
    assert h.api.texts(me)[-1] == say("utter_bot_staff_question", ticket=ticket.number, text="您家里白天有人在吗？")
    mark = h.api.mark()
    assert await h.say(me, "下周三大概几点来？家里白天只有奶奶一个人") == [
        say("utter_bot_passed_on", ticket=ticket.number)
    ]
    await h.deliver()
    (answer,) = thread(h, ticket, mark)
    assert answer.startswith(f"居民回答（求助 {ticket.number}，") and answer.endswith("家里白天只有奶奶一个人")
    (history,) = await h.staff_says(STAFF_USER, f"/ticket {ticket.number}")
    assert "居民说：下周三大概几点来？家里白天只有奶奶一个人" in history and "问了居民一个问题" in history

    # after that, messages go to the assistant as usual
    (status,) = await h.say(me, "查进度")
    assert ticket.number in status


async def test_adding_with_one_and_with_two_open_tickets(rasa: Services, start: Start) -> None:
    h = await start(RATE_LIMIT_PER_MINUTE="200")  # a long conversation in seconds
    me = new_person()
    first = await file_request(h, me)
    mark = h.api.mark()
    assert await h.say(me, "我还要补充：他的银行卡换过了") == [say("utter_note_added", ticket=first.number)]
    await h.deliver()
    assert thread(h, first, mark) and thread(h, first, mark)[0].endswith("他的银行卡换过了")

    # a second 转人工 with one open: asked first; 2 files a new one
    (asked,) = await h.say(me, "转人工")
    assert asked == say("utter_open_ticket", ticket=first.number)
    assert h.api.sent("sendMessage", me)[-1].params["reply_markup"]["keyboard"] == [[{"text": "1"}, {"text": "2"}]]
    assert await h.say(me, "2") == [say("utter_help_intro"), say("utter_ask_contact_name")]
    await h.say(me, "王阿姨")
    await h.say(me, "13812345678")
    await h.say(me, "3")
    await h.say(me, "4")
    await h.say(me, "孩子上学的事")
    assert await h.say(me, "好的 提交") == []  # the number comes through the outbox
    await h.deliver()
    second = h.store.for_sender(sender_id(me, me), 1)[0]
    assert second.number != first.number and second.category == "上学"

    # two open: "我还要补充…" asks which, by digit
    (which,) = await h.say(me, "我还要补充：学校离家太远了")
    assert which.startswith("您有2个求助在处理中，补充到哪一个？\n1 补充到求助 " + second.number)
    assert await h.say(me, "1") == [say("utter_note_added", ticket=second.number)]
    assert [m["text"] for m in h.store.messages(second.number)] == ["学校离家太远了"]
    assert [m["text"] for m in h.store.messages(first.number)] == ["他的银行卡换过了"]

    # a third 转人工 with two open: 1 adds to the newest; the note is asked for
    (asked,) = await h.say(me, "转人工")
    assert asked.startswith("您已经有2个求助在处理中。") and "\n3 新的求助\n" in asked
    assert await h.say(me, "1") == [say("utter_ask_note")]
    assert await h.say(me, "放学以后有人在家") == [say("utter_note_added", ticket=second.number)]
    assert len(h.store.for_sender(sender_id(me, me))) == 2


async def test_the_form_for_elderly_people(rasa: Services, start: Start) -> None:
    h = await start(RATE_LIMIT_PER_MINUTE="200")  # a long conversation in seconds
    me = new_person()

    async def answer(text: str) -> list[str]:
        return await h.say(me, text, "老陈")

    await answer("转人工")
    # a question as the name: asked again (and answered when the assistant knows it)
    replies = await answer("护理补贴怎么申请？")
    assert replies[-2:] == [say("utter_name_is_question"), say("utter_ask_contact_name")]
    assert await answer("陈伯") == [say("utter_ask_phone_chat")]  # on Telegram the phone may be left out
    assert await answer("一三九一二三四五六七八")
    await answer("15")
    await answer("1")
    # "对 就是这样" is not a description
    assert await answer("对 就是这样") == [say("utter_invalid_description"), say("utter_ask_description")]
    summary = "\n".join(await answer("补贴好几个月没发"))
    assert "2 电话：13912345678" in summary and "3 乡镇：罗珊乡" in summary
    assert await answer("2") == [say("utter_ask_phone_chat")]
    summary = "\n".join(await answer("0"))  # no phone: staff answer in the chat
    assert "2 电话：" + say("utter_confirm_no_phone") in summary
    assert await answer("零") == []  # the number comes through the outbox
    await h.deliver()
    ticket = h.store.for_sender(sender_id(me, me), 1)[0]
    assert say("utter_ticket_created", ticket=ticket.number) in h.api.texts(me)
    stored = (ticket.contact_name, ticket.phone, ticket.township, ticket.description)
    assert stored == ("陈伯", "", "罗珊乡", "补贴好几个月没发")
    await h.deliver()
    assert "电话：" + say("utter_staff_phone_in_chat") in h.card(ticket)["text"]


async def test_a_voice_message_is_passed_on_with_yi(rasa: Services, start: Start) -> None:
    h = await start(RATE_LIMIT_PER_MINUTE="200")  # a long conversation in seconds
    me = new_person()
    ticket = await file_request(h, me)
    voice = {"file_id": "voice-e2e", "file_unique_id": "v-e2e", "duration": 3, "mime_type": "audio/ogg"}
    mark = h.api.mark()
    await h.send(message_update(h.api, me, me, voice=voice))
    assert h.api.texts(me, mark) == [say("utter_bot_voice_to_ticket", ticket=ticket.number)]
    assert await h.say(me, "一") == [say("utter_bot_passed_on", ticket=ticket.number)]
    await h.deliver()
    (sent,) = h.api.sent("sendVoice", STAFF_CHAT, since=mark)
    assert sent.params["voice"] == "voice-e2e"


def test_without_telegram_a_rest_or_terminal_resident_adds_to_a_ticket(services: Services) -> None:
    store = store_for(f"sqlite:///{services.data_dir / 'tickets.db'}")
    for sender in ("rest-resident-1", "local-terminal-1"):
        assert services.texts(sender, "我还要补充：村里说还要一张医院的证明") == [say("utter_note_no_ticket")]
        ticket = store.create(sender, "阿华", "13812345678", "长宁镇", "补贴", "补贴没到账")
        assert services.texts(sender, "我还要补充：村里说还要一张医院的证明") == [
            say("utter_note_added", ticket=ticket.number)
        ]
        store.reply(ticket.number, "cli", "cli", "银行卡换过吗？")
        (status,) = services.texts(sender, "查进度")
        assert "工作人员问您：银行卡换过吗？" in status
        assert services.texts(sender, "我还要补充") == [say("utter_ask_note")]
        assert services.texts(sender, "换过了，是农商银行的") == [say("utter_note_added", ticket=ticket.number)]
        assert [(m["text"], m["via"]) for m in store.messages(ticket.number) if not m["from_staff"]] == [
            ("村里说还要一张医院的证明", "note"),
            ("换过了，是农商银行的", "note"),
        ]
        assert store.get(ticket.number).waiting_on == "staff"
