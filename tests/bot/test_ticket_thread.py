"""A ticket's conversation through the bridge, in-process (no Rasa needed): a resident replies
to a staff message, answers a staff question (a reply ending in ？, or 追问), is offered to pass
on their next message after a staff reply, sends voice and photos; and every bad input of the
issue: closed tickets, another resident's ticket, outsiders, 20,000 characters, a flood."""

from __future__ import annotations

import re

from bot.conversation import AFTER_STAFF
from bot.runtime import sender_id
from common.texts import say
from tests.bot.conftest import OUTSIDER, STAFF_CHAT, STAFF_USER, Harness, Start, make_ticket, new_person
from tests.fakes.bot_api import JSON, callback_update, message_update, reply_update
from tickets.fields import MAX_TEXT
from tickets.store import Ticket

VOICE = {"file_id": "voice-of-ahua", "file_unique_id": "v1", "duration": 4, "mime_type": "audio/ogg"}
PHOTO = [{"file_id": "photo-roof", "file_unique_id": "p1", "width": 10, "height": 10}]


async def ticket_with_card(h: Harness, person: int, **fields: str) -> tuple[Ticket, JSON]:
    ticket = make_ticket(h.store, person, **fields)
    await h.deliver()
    return ticket, h.card(ticket)


async def staff_writes(h: Harness, card: JSON, text: str) -> JSON:
    """A staff member replies to the card; the message the resident then gets."""
    ticket = h.store.cards.ticket_for(str(STAFF_CHAT), card["message_id"])
    await h.staff_says(STAFF_USER, text, reply_to=card)
    await h.deliver()
    resident = int(ticket.sender_id.split(":")[1])
    return h.api.sent("sendMessage", resident)[-1].result


async def resident_replies(h: Harness, person: int, to: JSON, text: str = "", **content: object) -> list[str]:
    mark = h.api.mark()
    update = reply_update(h.api, person, person, text, to) if text else message_update(h.api, person, person, **content)
    if not text:
        update["message"]["reply_to_message"] = to
    await h.send(update)
    return h.api.texts(person, mark)


def notes_to_staff(h: Harness, since: int = 0) -> list[tuple[str, int | None]]:
    """What reached the staff group since `since` apart from cards: (text or caption, replied-to id)."""
    out = []
    for call in h.api.calls[since:]:
        if call.ok and call.chat_id == STAFF_CHAT and call.method in ("sendMessage", "sendVoice", "sendPhoto"):
            text = call.params.get("text") or call.params.get("caption") or ""
            if text.startswith("求助 XW-"):
                continue  # a card
            reply = call.params.get("reply_parameters") or {}
            out.append((text, reply.get("message_id")))
    return out


def resident_messages(h: Harness, ticket: Ticket) -> list[tuple[str, str, str]]:
    return [(m["text"], m["kind"], m["via"]) for m in h.store.messages(ticket.number) if not m["from_staff"]]


async def test_a_reply_to_the_staff_message_reaches_the_card(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    told = "王阿姨您好，下周三上门看看。"
    staff_message = await staff_writes(h, card, told)
    assert staff_message["text"] == say("utter_bot_staff_reply", ticket=ticket.number, text=told)

    said = "下周三大概几点来？家里白天只有奶奶一个人"
    assert await resident_replies(h, me, staff_message, said) == [say("utter_bot_passed_on", ticket=ticket.number)]
    assert resident_messages(h, ticket) == [(said, "text", "reply")]  # stored before the resident was told
    mark = h.api.mark()
    await h.deliver()
    ((note, replied_to),) = notes_to_staff(h, mark)
    assert replied_to == card["message_id"]
    assert re.fullmatch(rf"居民回复（求助 {ticket.number}，\d\d-\d\d \d\d:\d\d）：\n{said}", note)
    assert "notified_staff" in h.actions(ticket.number)
    assert h.store.get(ticket.number).waiting_on == "staff"
    (listing,) = await h.staff_says(STAFF_USER, "/open")
    assert ticket.number in listing and say("utter_word_waiting_staff") in listing

    # Staff reply to the resident's message under the card: it reaches the resident too.
    staff_note = h.api.sent("sendMessage", STAFF_CHAT)[-1].result
    assert await h.staff_says(STAFF_USER, "上午十点左右", reply_to=staff_note) == [
        say("utter_staff_reply_sent", ticket=ticket.number)
    ]
    await h.deliver()
    assert h.api.texts(me)[-1] == say("utter_bot_staff_reply", ticket=ticket.number, text="上午十点左右")


async def test_staff_ask_back_and_the_answer_goes_to_the_card(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me, phone="")
    assert await h.staff_says(STAFF_USER, "请问您的电话是多少？", reply_to=card) == [
        say("utter_staff_asked_sent", ticket=ticket.number)
    ]
    assert h.store.get(ticket.number).waiting_on == "resident"
    (listing,) = await h.staff_says(STAFF_USER, "/open")
    assert say("utter_word_waiting_resident") in listing
    await h.deliver()
    assert h.api.texts(me)[-1] == say("utter_bot_staff_question", ticket=ticket.number, text="请问您的电话是多少？")
    assert say("utter_staff_card_waiting", waiting=say("utter_word_waiting_resident")) in h.card(ticket)["text"]

    # The slip: he answered "我电话13870001234" and got "这个数字我没对上". Now it is an answer.
    assert await h.say(me, "我电话13870001234") == [say("utter_bot_passed_on", ticket=ticket.number)]
    assert resident_messages(h, ticket) == [("我电话13870001234", "text", "answer")]
    mark = h.api.mark()
    await h.deliver()
    ((note, replied_to),) = notes_to_staff(h, mark)
    assert note.startswith(f"居民回答（求助 {ticket.number}，") and replied_to == card["message_id"]
    assert h.store.get(ticket.number).waiting_on == "staff"
    assert AFTER_STAFF not in h.app.user_data[me]  # only the next message: later ones go to Rasa as usual


async def test_the_ask_button_posts_a_prompt_and_its_reply_is_a_question(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    mark = h.api.mark()
    answer = await h.press(STAFF_USER, card, f"ask:{ticket.number}", "李干事")
    assert answer == {"text": None, "show_alert": False}
    (prompt_call,) = h.api.sent("sendMessage", STAFF_CHAT, since=mark)
    assert prompt_call.params["text"] == say("utter_staff_ask_prompt", ticket=ticket.number)
    assert prompt_call.params["reply_markup"]["force_reply"] is True
    assert prompt_call.params["reply_parameters"]["message_id"] == card["message_id"]
    prompt = prompt_call.result
    assert await h.staff_says(STAFF_USER, "家里有几口人", reply_to=prompt) == [
        say("utter_staff_asked_sent", ticket=ticket.number)
    ]
    assert "asked" in h.actions(ticket.number) and h.store.get(ticket.number).waiting_on == "resident"
    await h.deliver()
    assert h.api.texts(me)[-1] == say("utter_bot_staff_question", ticket=ticket.number, text="家里有几口人")
    # Outsiders may not press it; a closed ticket cannot be asked about.
    assert (await h.press(OUTSIDER, card, f"ask:{ticket.number}"))["text"] == say("utter_staff_not_allowed")
    h.store.close(ticket.number, str(STAFF_USER), "李干事")
    assert (await h.press(STAFF_USER, card, f"ask:{ticket.number}"))["text"] == say(
        "utter_staff_reply_closed", ticket=ticket.number
    )


async def test_after_a_staff_reply_the_next_message_is_offered(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    await staff_writes(h, card, "罗珊乡民政所电话我们明天查一下告诉您。")

    said = "好的 谢谢王干事 那罗珊乡民政所礼拜六开门么"
    assert await h.say(me, said) == [say("utter_bot_offer_to_staff", ticket=ticket.number)]
    assert h.api.sent("sendMessage", me)[-1].params["reply_markup"]["keyboard"] == [[{"text": "1"}, {"text": "2"}]]
    assert resident_messages(h, ticket) == []  # nothing stored before the resident says yes
    assert await h.say(me, "一") == [say("utter_bot_passed_on", ticket=ticket.number)]
    assert resident_messages(h, ticket) == [(said, "text", "offer")]

    # "2 不用": the message was for the assistant (Rasa is down in this test: the apology shows it went there)
    await staff_writes(h, card, "礼拜六不开门。")
    assert await h.say(me, "护理补贴怎么申请") == [say("utter_bot_offer_to_staff", ticket=ticket.number)]
    assert await h.say(me, "不用") == [say("utter_bot_service_down")]
    assert h.app.bridge.recent(sender_id(me, me))[-1] == "护理补贴怎么申请"
    assert len(resident_messages(h, ticket)) == 1

    # Short words for the assistant are not offered ("查进度", a digit, 转人工)
    await staff_writes(h, card, "有事再说。")
    assert await h.say(me, "查进度") == [say("utter_bot_service_down")]
    assert len(resident_messages(h, ticket)) == 1


async def test_a_voice_message_is_passed_on_with_yi_hao_or_yao(start: Start) -> None:
    h = await start()
    me = new_person()
    # No open ticket: a new ticket with the audio (as before), accepted with 一.
    await h.send(message_update(h.api, me, me, "阿华", voice=VOICE))
    assert h.api.texts(me)[-1] == say("utter_bot_voice_message")
    (done,) = await h.say(me, "一", "阿华")
    number = re.search(r"XW-[0-9A-Z]{5}", done).group(0)
    assert done == say("utter_bot_voice_forwarded", ticket=number)
    ticket = h.store.get(number)
    await h.deliver()
    await h.deliver()
    card = h.card(ticket)

    # With that ticket open, the next voice message is offered for it; 好 adds it.
    await h.send(message_update(h.api, me, me, "阿华", voice={**VOICE, "file_id": "second-voice"}))
    assert h.api.texts(me)[-1] == say("utter_bot_voice_to_ticket", ticket=number)
    assert await h.say(me, "好") == [say("utter_bot_passed_on", ticket=number)]
    assert resident_messages(h, ticket) == [("", "voice", "offer")]
    mark = h.api.mark()
    await h.deliver()
    (sent,) = h.api.sent("sendVoice", STAFF_CHAT, since=mark)
    assert sent.params["voice"] == "second-voice"
    assert sent.params["reply_parameters"]["message_id"] == card["message_id"]
    assert sent.params["caption"].startswith(f"居民发来一段语音（求助 {number}，")

    # 要 works too; 2 declines; a new question instead of an answer drops the offer.
    await h.send(message_update(h.api, me, me, voice={**VOICE, "file_id": "third"}))
    assert await h.say(me, "要") == [say("utter_bot_passed_on", ticket=number)]
    await h.send(message_update(h.api, me, me, voice={**VOICE, "file_id": "fourth"}))
    assert await h.say(me, "2") == [say("utter_bot_voice_declined")]
    assert len(resident_messages(h, ticket)) == 2 and len(h.store.for_sender(sender_id(me, me))) == 1


async def test_with_two_open_tickets_the_resident_chooses_by_digit(start: Start) -> None:
    h = await start()
    me = new_person()
    first, _ = await ticket_with_card(h, me, category="补贴")
    second, _ = await ticket_with_card(h, me, category="残疾人证")
    await h.send(message_update(h.api, me, me, voice=VOICE))
    (asked,) = await h.say(me, "1")
    assert asked.startswith("您有2个求助在处理中，转到哪一个？\n1 求助 " + second.number + "（残疾人证，")
    assert f"\n2 求助 {first.number}（补贴，" in asked and "\n3 不用了\n" in asked
    assert await h.say(me, "二") == [say("utter_bot_passed_on", ticket=first.number)]
    assert resident_messages(h, first) == [("", "voice", "offer")] and resident_messages(h, second) == []

    # A photo with two open: asked which at once; 3 不用了 passes nothing on.
    await h.send(message_update(h.api, me, me, photo=PHOTO, caption="屋顶漏水的地方"))
    assert h.api.texts(me)[-1].startswith("您有2个求助在处理中，转到哪一个？")
    assert await h.say(me, "3") == [say("utter_bot_not_passed_on")]
    await h.send(message_update(h.api, me, me, photo=PHOTO, caption="屋顶漏水的地方"))
    assert await h.say(me, "1") == [say("utter_bot_passed_on", ticket=second.number)]
    assert resident_messages(h, second) == [("屋顶漏水的地方", "photo", "offer")]
    mark = h.api.mark()
    await h.deliver()
    (photo,) = h.api.sent("sendPhoto", STAFF_CHAT, since=mark)
    assert photo.params["photo"] == "photo-roof" and "屋顶漏水的地方" in photo.params["caption"]


async def test_a_photo_answering_a_staff_question_goes_straight_to_the_card(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    await staff_writes(h, card, "能拍一张轮椅的照片吗？")
    mark = h.api.mark()
    await h.send(message_update(h.api, me, me, photo=PHOTO))
    assert h.api.texts(me, mark) == [say("utter_bot_passed_on", ticket=ticket.number)]
    assert resident_messages(h, ticket) == [("", "photo", "answer")]


async def test_danger_in_an_answer_says_the_emergency_lines_and_marks_the_ticket(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    await staff_writes(h, card, "您现在在家吗？")
    replies = await h.say(me, "在家 我爸刚才摔倒了 头在流血")
    assert replies[-1] == say("utter_bot_passed_on", ticket=ticket.number)
    assert any("120" in line for line in replies[:-1])
    assert h.store.get(ticket.number).urgent
    mark = h.api.mark()
    await h.deliver()
    notes = notes_to_staff(h, mark)
    assert notes and notes[0][0].startswith(say("utter_staff_urgent_mark"))
    assert h.card(ticket)["text"].startswith(say("utter_staff_urgent_mark").strip())


async def test_what_must_not_reach_a_ticket_does_not(start: Start) -> None:
    h = await start()
    me, other = new_person(), new_person()
    ticket, card = await ticket_with_card(h, me)
    theirs, _ = await ticket_with_card(h, other)
    staff_message = await staff_writes(h, card, "好的，知道了。")

    # a reply to a message about another resident's ticket (a bot message naming it)
    fake = {**staff_message, "text": say("utter_bot_staff_reply", ticket=theirs.number, text="x")}
    assert await resident_replies(h, me, fake, "写到别人的求助里") == [
        say("utter_bot_reply_not_yours", ticket=theirs.number)
    ]
    # a reply to a message of a closed ticket
    h.store.close(ticket.number, str(STAFF_USER), "李干事")
    assert await resident_replies(h, me, staff_message, "还有一件事") == [
        say("utter_bot_reply_closed", ticket=ticket.number)
    ]
    assert resident_messages(h, ticket) == [] and resident_messages(h, theirs) == []
    # staff side: a reply to the closed ticket's card; someone who is not staff
    assert await h.staff_says(STAFF_USER, "还在吗？", reply_to=card) == [
        say("utter_staff_reply_closed", ticket=ticket.number)
    ]
    assert await h.staff_says(OUTSIDER, "我替他回复", reply_to=card) == [say("utter_staff_not_allowed")]
    assert [m for m in h.store.messages(ticket.number) if m["from_staff"]] == [
        m for m in h.store.messages(ticket.number) if m["text"] == "好的，知道了。"
    ]
    # a voice or photo from a stranger's reply to a card: the bridge ignores media in the staff group
    mark = h.api.mark()
    stranger = message_update(h.api, STAFF_CHAT, OUTSIDER, voice=VOICE)
    stranger["message"]["reply_to_message"] = card
    await h.send(stranger)
    assert h.api.texts(STAFF_CHAT, mark) == [] and h.store.messages(theirs.number) == []
    # a button press from someone else on a card in a resident's chat changes nothing
    await h.send(callback_update(h.api, me, me, staff_message, f"close:{theirs.number}"))
    assert h.store.get(theirs.number).state == "new"


async def test_a_20000_character_answer_is_cut_and_the_resident_told(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    await staff_writes(h, card, "具体是什么情况？")
    replies = await h.say(me, "情况是这样的。" * 2900)  # about 20,000 characters
    assert replies == [say("utter_bot_passed_on_cut", limit=MAX_TEXT), say("utter_bot_passed_on", ticket=ticket.number)]
    (stored,) = resident_messages(h, ticket)
    assert len(stored[0]) == MAX_TEXT and stored[0].startswith("情况是这样的。")


async def test_a_flood_of_replies_is_rate_limited_and_the_first_ones_kept(start: Start) -> None:
    h = await start(RATE_LIMIT_PER_MINUTE="5")
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    staff_message = await staff_writes(h, card, "好的。")
    mark = h.api.mark()
    for i in range(12):
        await h.send(reply_update(h.api, me, me, f"第{i + 1}条补充", staff_message))
    assert [t for t, _, _ in resident_messages(h, ticket)] == [f"第{i + 1}条补充" for i in range(5)]
    told = h.api.texts(me, mark)
    assert told.count(say("utter_bot_passed_on", ticket=ticket.number)) == 5
    assert told.count(say("utter_bot_rate_limited")) == 1


async def test_what_staff_asked_survives_a_restart(start: Start) -> None:
    h = await start()
    me = new_person()
    ticket, card = await ticket_with_card(h, me)
    await staff_writes(h, card, "您家门牌号是多少？")
    await h.stop()
    again = await start(api=h.api)
    assert await again.say(me, "村尾最后一户 门口有棵大樟树") == [say("utter_bot_passed_on", ticket=ticket.number)]
    assert resident_messages(again, ticket) == [("村尾最后一户 门口有棵大樟树", "text", "answer")]
