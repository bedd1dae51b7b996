"""End to end: a resident asks for help on Telegram, staff claim, reply and close; the audit trail is complete.

Real Rasa server, real action server (which stores the ticket), real bridge and SQLite
database; FakeTelegramAPI plays Telegram for the resident and the staff group.
"""

from __future__ import annotations

import re

from bot.runtime import sender_id
from common.texts import say
from tests.bot.conftest import RASA_WAIT, STAFF_CHAT, STAFF_USER, Bridges, new_person, texts, wait_card, wait_text
from tests.fakes.telegram_api import FakeTelegramAPI
from tickets.store import store_for


def keyboard(call) -> list[list[str]]:  # noqa: ANN001 - a fake Call
    return [[b["text"] for b in row] for row in call.params["reply_markup"]["keyboard"]]


def test_help_request_from_telegram_to_staff_and_back(rasa_bridges: Bridges, fake: FakeTelegramAPI) -> None:
    rasa_bridges.in_process()
    store = store_for(rasa_bridges.database_url)
    me = new_person()

    def say_and_wait(text: str, expect: str) -> object:
        mark = fake.mark()
        fake.push_text(me, me, text, first_name="秀英")
        return wait_text(fake, me, expect, since=mark, timeout=RASA_WAIT)

    say_and_wait("转人工", say("utter_ask_contact_name"))
    say_and_wait("王阿姨", say("utter_ask_phone"))
    township = say_and_wait("138 1234 5678", "哪个乡镇")
    assert keyboard(township) == [[str(i) for i in range(r, r + 5)] for r in (1, 6, 11)]
    category = say_and_wait("１", "哪方面")  # a full-width digit from a Chinese keyboard
    assert keyboard(category) == [["1", "2", "3", "4", "5"], ["6", "7", "8"]]
    confirm = say_and_wait("3", say("utter_ask_description"))
    assert confirm.params["reply_markup"] == {"remove_keyboard": True}
    confirm = say_and_wait("轮椅坏了，想请人来修一下", "请核对")
    assert keyboard(confirm) == [["0", "1", "2", "3", "4"], ["5"]]
    assert "长宁镇" in confirm.params["text"] and "13812345678" in confirm.params["text"]
    created = say_and_wait("0", "求助编号")
    number = re.search(r"XW-[0-9A-Z]{5}", created.params["text"]).group(0)
    ticket = store.get(number)  # stored before the resident heard the number
    assert (ticket.sender_id, ticket.township, ticket.category) == (sender_id(me, me), "长宁镇", "康复和辅助器具")

    card = wait_card(fake, number)
    card_id = card.result["message_id"]
    assert "王阿姨" in card.params["text"] and "13812345678" in card.params["text"]

    press = fake.push_callback(STAFF_CHAT, STAFF_USER, card_id, f"claim:{number}", first_name="李干事")
    answer = fake.wait_for(lambda: fake.callback_answer(press.callback_query_id))
    assert answer["text"] == say("utter_staff_claimed_ok", ticket=number)
    fake.wait_for(lambda: "李干事" in fake.message(STAFF_CHAT, card_id)["text"], what="the card shows who claimed")

    mark = fake.mark()
    fake.push_text(STAFF_CHAT, STAFF_USER, "王阿姨您好，明天上午我们派人上门修轮椅。", reply_to_message_id=card_id)
    wait_text(fake, STAFF_CHAT, say("utter_staff_reply_sent", ticket=number), since=mark)
    relayed = wait_text(fake, me, "明天上午我们派人上门修轮椅", since=mark)
    assert relayed.params["text"] == say(
        "utter_bot_staff_reply", ticket=number, text="王阿姨您好，明天上午我们派人上门修轮椅。"
    )
    fake.wait_for(
        lambda: say("utter_word_state_answered") in fake.message(STAFF_CHAT, card_id)["text"], what="card: answered"
    )

    mark = fake.mark()
    press = fake.push_callback(STAFF_CHAT, STAFF_USER, card_id, f"close:{number}", first_name="李干事")
    wait_text(fake, me, say("utter_bot_ticket_closed", ticket=number), since=mark)
    assert fake.wait_for(lambda: fake.callback_answer(press.callback_query_id))["text"] == say(
        "utter_staff_closed_ok", ticket=number
    )
    fake.wait_for(lambda: "reply_markup" not in fake.message(STAFF_CHAT, card_id), what="the closed card's buttons go")
    assert say("utter_word_state_closed") in fake.message(STAFF_CHAT, card_id)["text"]
    fake.wait_for(lambda: "resident_told_closed" in [e["action"] for e in store.history(number)])

    trail = [(e["action"], e.get("actor")) for e in store.history(number)]
    actions = [a for a, _ in trail]
    # the causal chain, in order (a click can be recorded before the deliverer marks the card sent)
    chain = ["created", "claimed", "replied", "delivered_to_resident", "closed", "resident_told_closed"]
    assert [a for a in actions if a in chain] == chain, trail
    assert actions.count("notified_staff") == 1 and actions.index("notified_staff") > actions.index("created")
    assert actions.count("message") == 1
    assert ("claimed", str(STAFF_USER)) in trail and ("closed", str(STAFF_USER)) in trail
    assert store.get(number).state == "closed" and store.get(number).claimed_by_name == "李干事"
    assert texts(fake, me).count(relayed.params["text"]) == 1
