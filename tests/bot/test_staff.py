"""The staff group: cards, buttons, replies, commands; who may act; bad input."""

from __future__ import annotations

import re
import struct
from typing import Any

from common.texts import say
from tests.bot.conftest import (
    OTHER_STAFF,
    OUTSIDER,
    STAFF_CHAT,
    STAFF_USER,
    Bridges,
    make_ticket,
    new_person,
    wait_card,
    wait_text,
)
from tests.fakes.telegram_api import FakeTelegramAPI
from tickets.store import TicketStore


def answered(fake: FakeTelegramAPI, query_id: str) -> dict:
    """The answerCallbackQuery parameters for a pushed button press (waits for it)."""
    return fake.wait_for(lambda: fake.callback_answer(query_id), what=f"the answer to callback {query_id}")


def snapshot(store: TicketStore, number: str) -> tuple[Any, ...]:
    ticket = store.get(number)
    return ticket.state, ticket.claimed_by, [(e["action"], e["actor"]) for e in store.history(number)]


def settled(fake: FakeTelegramAPI, store: TicketStore, number: str) -> Any:
    """Wait until the card is out and recorded (nothing more will change by itself)."""
    card = wait_card(fake, number)
    fake.wait_for(lambda: any(e["action"] == "notified_staff" for e in store.history(number)), what="notified_staff")
    return card


def test_card_shows_the_ticket_with_buttons(bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore) -> None:
    bridges.in_process()
    ticket = make_ticket(store, new_person())
    card = settled(fake, store, ticket.number)
    text = card.params["text"]
    for part in (ticket.number, "补贴", "长宁镇", "王阿姨", "13812345678", "护理补贴申请了三个月还没到账"):
        assert part in text
    assert "parse_mode" not in card.params
    buttons = card.params["reply_markup"]["inline_keyboard"][0]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        (say("utter_word_claim"), f"claim:{ticket.number}"),
        (say("utter_word_resolve"), f"close:{ticket.number}"),
    ]
    assert store.cards.ticket_for(str(STAFF_CHAT), card.result["message_id"]).number == ticket.number


def test_non_staff_claim_changes_nothing(bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore) -> None:
    bridges.in_process()
    ticket = make_ticket(store, new_person())
    card = settled(fake, store, ticket.number)
    before = snapshot(store, ticket.number)
    card_id = card.result["message_id"]

    press = fake.push_callback(STAFF_CHAT, OUTSIDER, card_id, f"claim:{ticket.number}", first_name="路人")
    answer = answered(fake, press.callback_query_id)
    assert answer == {"text": say("utter_staff_not_allowed"), "show_alert": True}
    press = fake.push_callback(STAFF_CHAT, OUTSIDER, card_id, f"close:{ticket.number}")
    assert answered(fake, press.callback_query_id)["text"] == say("utter_staff_not_allowed")

    mark = fake.mark()
    fake.push_text(STAFF_CHAT, OUTSIDER, "我来回复一下", reply_to_message_id=card_id)
    wait_text(fake, STAFF_CHAT, say("utter_staff_not_allowed"), since=mark)
    fake.push_command(STAFF_CHAT, OUTSIDER, "/open")
    fake.wait_for(
        lambda: (
            [c.params["text"] for c in fake.calls("sendMessage", STAFF_CHAT, since=mark)].count(
                say("utter_staff_not_allowed")
            )
            == 2
        ),
        what="the second refusal",
    )

    assert snapshot(store, ticket.number) == before
    assert store.messages(ticket.number) == []
    assert not fake.calls("editMessageText")
    assert fake.message(STAFF_CHAT, card_id)["text"] == card.result["text"]


def test_two_staff_claim_at_once_one_wins(bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore) -> None:
    bridges.in_process()
    ticket = make_ticket(store, new_person())
    card_id = settled(fake, store, ticket.number).result["message_id"]
    first = fake.push_callback(STAFF_CHAT, STAFF_USER, card_id, f"claim:{ticket.number}", first_name="李干事")
    second = fake.push_callback(STAFF_CHAT, OTHER_STAFF, card_id, f"claim:{ticket.number}", first_name="张干事")
    answers = [answered(fake, first.callback_query_id), answered(fake, second.callback_query_id)]
    winner = store.get(ticket.number).claimed_by_name
    assert winner in ("李干事", "张干事")
    assert sorted(a["text"] for a in answers) == sorted(
        [say("utter_staff_claimed_ok", ticket=ticket.number), say("utter_staff_claim_lost", staff=winner)]
    )
    assert [e["action"] for e in store.history(ticket.number)].count("claimed") == 1
    edit = fake.wait_for_call("editMessageText", STAFF_CHAT)
    assert winner in edit.params["text"] and say("utter_word_state_claimed") in edit.params["text"]
    assert [b["text"] for b in edit.params["reply_markup"]["inline_keyboard"][0]] == [say("utter_word_resolve")]


def test_bad_input_at_the_staff_side(bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore) -> None:
    bridges.in_process()
    ticket = make_ticket(store, new_person())
    card_id = settled(fake, store, ticket.number).result["message_id"]
    before = snapshot(store, ticket.number), store.counts(), store.outbox.pending_count()

    # a reply to a bot message that is not a card
    mark = fake.mark()
    fake.push_command(STAFF_CHAT, STAFF_USER, "/stats")
    stats = wait_text(fake, STAFF_CHAT, "求助统计", since=mark)
    assert stats.params["text"] == say("utter_staff_counts", new=1, claimed=0, answered=0, closed=0)
    fake.push_text(STAFF_CHAT, STAFF_USER, "这条转给谁？", reply_to_message_id=stats.result["message_id"])
    wait_text(fake, STAFF_CHAT, say("utter_staff_reply_unknown"), since=mark)
    # people talking to each other in the group are left alone
    colleague = fake.push_text(STAFF_CHAT, OTHER_STAFF, "今天谁值班？")
    fake.push_text(STAFF_CHAT, STAFF_USER, "我值班", reply_to_message_id=colleague.message_id)

    # /ticket with nothing, a malformed and an unknown number
    fake.push_command(STAFF_CHAT, STAFF_USER, "/ticket")
    wait_text(fake, STAFF_CHAT, say("utter_staff_ticket_usage"), since=mark)
    fake.push_command(STAFF_CHAT, STAFF_USER, "/ticket", "DROP TABLE tickets;")
    wait_text(fake, STAFF_CHAT, say("utter_staff_bad_number", text="DROP TABLE tickets;"), since=mark)
    fake.push_command(STAFF_CHAT, STAFF_USER, "/ticket", "XW-ZZZZZ")
    wait_text(fake, STAFF_CHAT, say("utter_staff_ticket_unknown", ticket="XW-ZZZZZ"), since=mark)
    fake.push_command(STAFF_CHAT, STAFF_USER, "/report", "lots")
    wait_text(fake, STAFF_CHAT, say("utter_staff_report_usage"), since=mark)

    # callbacks with garbage data
    for data in ("claim:DROP TABLE", "xyz", "close:XW-00000", "claim:", "reopen:" + ticket.number, "claim:XW-ZZZZZ"):
        press = fake.push_callback(STAFF_CHAT, STAFF_USER, card_id, data)
        answer = answered(fake, press.callback_query_id)
        assert answer["show_alert"] is True
        assert answer["text"] in (say("utter_staff_bad_button"), say("utter_staff_ticket_unknown", ticket="XW-ZZZZZ"))

    fake.push_command(STAFF_CHAT, STAFF_USER, "/staffhelp")
    wait_text(fake, STAFF_CHAT, say("utter_staff_usage"), since=mark)
    assert (snapshot(store, ticket.number), store.counts(), store.outbox.pending_count()) == before
    assert not [
        t for t in (c.params["text"] for c in fake.calls("sendMessage", STAFF_CHAT, since=mark)) if "我值班" in t
    ]


def test_open_ticket_history_reopen_and_report(bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore) -> None:
    bridges.in_process()
    resident = new_person()
    first = make_ticket(store, resident)
    second = make_ticket(store, new_person(), township="", phone="", category="其他")
    store.questions.log("ask_policy", "answer", ["m1.5"], "护理补贴怎么申请")
    store.questions.log("ask_policy", "unknown", [], "电话13812345678的那个补贴")
    settled(fake, store, first.number)
    settled(fake, store, second.number)
    assert say("utter_staff_missing") in wait_card(fake, second.number).params["text"]

    mark = fake.mark()
    fake.push_command(STAFF_CHAT, STAFF_USER, "/open", mention_bot=True)
    listing = wait_text(fake, STAFF_CHAT, "未关闭的求助", since=mark).params["text"]
    assert first.number in listing and second.number in listing and "（2条）" in listing

    store.claim(first.number, str(STAFF_USER), "李干事")
    store.reply(first.number, str(STAFF_USER), "李干事", "明天上午来电话")
    store.close(first.number, str(STAFF_USER), "李干事")
    fake.wait_for(lambda: store.outbox.pending_count() == 0, what="every outbox row delivered")
    fake.push_command(STAFF_CHAT, STAFF_USER, "/ticket", first.number.lower().replace("-", " "))
    history = wait_text(fake, STAFF_CHAT, f"求助 {first.number} 的记录", since=mark).params["text"]
    for word in (
        "提交了求助",
        "通知了工作人员",
        "工作人员李干事：认领",
        "明天上午来电话",
        "回复已送到居民",
        "标为已解决",
    ):
        assert word in history, word
    assert re.search(r"\d\d-\d\d \d\d:\d\d", history)

    fake.push_command(STAFF_CHAT, STAFF_USER, "/reopen", first.number)
    wait_text(fake, STAFF_CHAT, say("utter_staff_reopened", ticket=first.number), since=mark)
    fake.wait_for(
        lambda: (
            len(
                [
                    c
                    for c in fake.calls("sendMessage", STAFF_CHAT)
                    if c.ok and c.params["text"].startswith(f"求助 {first.number}（")
                ]
            )
            == 2
        ),
        what="a fresh card after /reopen",
    )
    fake.push_command(STAFF_CHAT, STAFF_USER, "/reopen", second.number)
    wait_text(fake, STAFF_CHAT, say("utter_staff_not_closed", ticket=second.number), since=mark)

    fake.push_command(STAFF_CHAT, STAFF_USER, "/report", "7")
    photo = fake.wait_for_call("sendPhoto", STAFF_CHAT, timeout=30)
    png = photo.files["photo"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    width, height = struct.unpack(">II", png[16:24])
    assert width > 400 and height > 300
    assert "居民一共问了2个问题" in photo.params["caption"]
    summary = wait_text(fake, STAFF_CHAT, "没能回答的问题", since=mark).params["text"]
    assert "社会保障（m1）：1个" in summary and "13812345678" not in summary and "138****5678" in summary
