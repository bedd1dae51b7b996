"""End to end: a resident asks for help on Telegram, staff claim, reply and close; the audit trail is complete.

Real Rasa server, real action server (which stores the ticket), the real bridge Application
and SQLite database; the offline Bot API plays Telegram for the resident and the staff group.
"""

from __future__ import annotations

from bot.runtime import sender_id
from common.texts import say
from tests.bot.conftest import STAFF_USER, Harness, Start, new_person
from tests.conftest import Services


def keyboard(h: Harness, chat: int) -> list[list[str]] | dict:
    """The reply keyboard sent with the last message to `chat`."""
    markup = h.api.sent("sendMessage", chat)[-1].params["reply_markup"]
    return [[b["text"] for b in row] for row in markup["keyboard"]] if "keyboard" in markup else markup


async def test_help_request_from_telegram_to_staff_and_back(rasa: Services, start: Start) -> None:
    h = await start()
    me = new_person()

    async def answer(text: str) -> str:
        return "\n".join(await h.say(me, text, "秀英"))

    assert await answer("转人工") == "\n".join([say("utter_help_intro"), say("utter_ask_contact_name")])
    assert await answer("王阿姨") == say("utter_ask_phone_chat")  # on Telegram the phone may be left out
    assert "哪个乡镇" in await answer("138 1234 5678")
    assert keyboard(h, me) == [[str(i) for i in range(r, r + 5)] for r in (1, 6, 11)]
    assert "哪方面" in await answer("１")  # a full-width digit from a Chinese keyboard
    assert keyboard(h, me) == [["1", "2", "3", "4", "5"], ["6", "7", "8"]]
    assert await answer("3") == say("utter_ask_description")
    assert keyboard(h, me) == {"remove_keyboard": True}
    confirm = await answer("轮椅坏了，想请人来修一下")
    assert "请核对" in confirm and "长宁镇" in confirm and "13812345678" in confirm
    assert keyboard(h, me) == [["0", "1", "2", "3", "4"], ["5"]]
    assert await answer("0") == ""  # the number comes through the outbox, retried until Telegram takes it
    [ticket] = h.store.for_sender(sender_id(me, me))  # stored before the resident heard the number
    number = ticket.number
    assert (ticket.sender_id, ticket.township, ticket.category) == (sender_id(me, me), "长宁镇", "康复和辅助器具")

    await h.deliver()
    assert [t for t in h.api.texts(me) if number in t] == [say("utter_ticket_created", ticket=number)]
    card = h.card(ticket)
    assert "王阿姨" in card["text"] and "13812345678" in card["text"]

    assert (await h.press(STAFF_USER, card, f"claim:{number}", "李干事"))["text"] == say(
        "utter_staff_claimed_ok", ticket=number
    )
    await h.deliver()
    assert "李干事" in h.card(ticket)["text"]

    staff_reply = "王阿姨您好，明天上午我们派人上门修轮椅。"
    assert await h.staff_says(STAFF_USER, staff_reply, reply_to=card) == [say("utter_staff_reply_sent", ticket=number)]
    await h.deliver()
    relayed = say("utter_bot_staff_reply", ticket=number, text=staff_reply)
    assert h.api.texts(me).count(relayed) == 1
    assert say("utter_word_state_answered") in h.card(ticket)["text"]

    mark = h.api.mark()
    assert (await h.press(STAFF_USER, card, f"close:{number}", "李干事"))["text"] == say(
        "utter_staff_closed_ok", ticket=number
    )
    await h.deliver()
    assert h.api.texts(me, mark) == [say("utter_bot_ticket_closed", ticket=number)]
    closed = h.card(ticket)
    assert "reply_markup" not in closed and say("utter_word_state_closed") in closed["text"]

    trail = [(e["action"], e.get("actor")) for e in h.store.history(number)]
    actions = [a for a, _ in trail]
    chain = ["created", "notified_staff", "resident_told_number", "claimed", "replied"]
    chain += ["delivered_to_resident", "closed"]
    assert [a for a in actions if a in chain] == chain, trail
    assert actions[-1] == "resident_told_closed" and actions.count("notified_staff") == 1
    assert actions.count("message") == 1
    assert ("claimed", str(STAFF_USER)) in trail and ("closed", str(STAFF_USER)) in trail
    assert h.store.get(number).state == "closed" and h.store.get(number).claimed_by_name == "李干事"
