"""The staff group: cards, buttons, replies, commands; who may act; bad input (in-process)."""

from __future__ import annotations

import asyncio
import re
import struct
from typing import Any

from common.texts import say
from tests.bot.conftest import OTHER_STAFF, OUTSIDER, STAFF_CHAT, STAFF_USER, Harness, Start, make_ticket, new_person
from tests.fakes.bot_api import message_update
from tickets.model import Ticket
from tickets.store import TicketStore


def snapshot(store: TicketStore, number: str) -> tuple[Any, ...]:
    ticket = store.get(number)
    return ticket.state, ticket.claimed_by, [(e["action"], e["actor"]) for e in store.history(number)]


async def with_card(h: Harness, **fields: Any) -> tuple[Ticket, dict]:
    """A new ticket whose card the deliverer has sent."""
    ticket = make_ticket(h.store, new_person(), **fields)
    await h.deliver()
    assert "notified_staff" in h.actions(ticket.number)
    return ticket, h.card(ticket)


async def test_card_shows_the_ticket_with_buttons(start: Start) -> None:
    h = await start()
    ticket, card = await with_card(h)
    call = h.api.sent("sendMessage", STAFF_CHAT)[-1]
    for part in (ticket.number, "补贴", "长宁镇", "王阿姨", "13812345678", "护理补贴申请了三个月还没到账"):
        assert part in card["text"]
    assert "parse_mode" not in call.params
    buttons = call.params["reply_markup"]["inline_keyboard"][0]
    assert [(b["text"], b["callback_data"]) for b in buttons] == [
        (say("utter_word_claim"), f"claim:{ticket.number}"),
        (say("utter_word_ask"), f"ask:{ticket.number}"),
        (say("utter_word_resolve"), f"close:{ticket.number}"),
    ]
    assert h.store.cards.ticket_for(str(STAFF_CHAT), card["message_id"]).number == ticket.number


async def test_non_staff_claim_changes_nothing(start: Start) -> None:
    h = await start()
    ticket, card = await with_card(h)
    before = snapshot(h.store, ticket.number)

    assert await h.press(OUTSIDER, card, f"claim:{ticket.number}", "路人") == {
        "text": say("utter_staff_not_allowed"),
        "show_alert": True,
    }
    assert (await h.press(OUTSIDER, card, f"close:{ticket.number}"))["text"] == say("utter_staff_not_allowed")
    assert await h.staff_says(OUTSIDER, "我来回复一下", reply_to=card) == [say("utter_staff_not_allowed")]
    assert await h.staff_says(OUTSIDER, "/open") == [say("utter_staff_not_allowed")]
    await h.deliver()

    assert snapshot(h.store, ticket.number) == before
    assert h.store.messages(ticket.number) == []
    assert not [c for c in h.api.calls if c.method == "editMessageText"]
    assert h.card(ticket)["text"] == card["text"]


async def test_two_staff_claim_at_once_one_wins(start: Start) -> None:
    h = await start()
    ticket, card = await with_card(h)
    answers = await asyncio.gather(
        h.press(STAFF_USER, card, f"claim:{ticket.number}", "李干事"),
        h.press(OTHER_STAFF, card, f"claim:{ticket.number}", "张干事"),
    )
    winner = h.store.get(ticket.number).claimed_by_name
    assert winner in ("李干事", "张干事")
    assert sorted(a["text"] for a in answers) == sorted(
        [say("utter_staff_claimed_ok", ticket=ticket.number), say("utter_staff_claim_lost", staff=winner)]
    )
    assert h.actions(ticket.number).count("claimed") == 1
    await h.deliver()
    edit = next(c for c in h.api.calls if c.method == "editMessageText")
    assert winner in edit.params["text"] and say("utter_word_state_claimed") in edit.params["text"]
    assert [b["text"] for b in edit.params["reply_markup"]["inline_keyboard"][0]] == [
        say("utter_word_ask"),
        say("utter_word_resolve"),
    ]


async def test_bad_input_at_the_staff_side(start: Start) -> None:
    h = await start()
    ticket, card = await with_card(h)
    before = snapshot(h.store, ticket.number), h.store.counts(), h.store.outbox.pending_count()

    stats = await h.staff_says(STAFF_USER, "/stats")
    assert stats == [say("utter_staff_counts", new=1, claimed=0, answered=0, closed=0)]
    stats_message = h.api.sent("sendMessage", STAFF_CHAT)[-1].result
    # a reply to a bot message that is not a card
    assert await h.staff_says(STAFF_USER, "这条转给谁？", reply_to=stats_message) == [say("utter_staff_reply_unknown")]
    # people talking to each other in the group are left alone
    colleague = message_update(h.api, STAFF_CHAT, OTHER_STAFF, text="今天谁值班？")
    await h.send(colleague)
    assert await h.staff_says(STAFF_USER, "我值班", reply_to=colleague["message"]) == []

    assert await h.staff_says(STAFF_USER, "/ticket") == [say("utter_staff_ticket_usage")]
    assert await h.staff_says(STAFF_USER, "/ticket DROP TABLE tickets;") == [
        say("utter_staff_bad_number", text="DROP TABLE tickets;")
    ]
    assert await h.staff_says(STAFF_USER, "/ticket XW-ZZZZZ") == [say("utter_staff_ticket_unknown", ticket="XW-ZZZZZ")]
    assert await h.staff_says(STAFF_USER, "/report lots") == [say("utter_staff_report_usage")]

    for data in ("claim:DROP TABLE", "xyz", "close:XW-00000", "claim:", "reopen:" + ticket.number, "claim:XW-ZZZZZ"):
        answer = await h.press(STAFF_USER, card, data)
        assert answer["show_alert"] is True
        assert answer["text"] in (say("utter_staff_bad_button"), say("utter_staff_ticket_unknown", ticket="XW-ZZZZZ"))

    assert await h.staff_says(STAFF_USER, "/staffhelp") == [say("utter_staff_usage")]
    assert (snapshot(h.store, ticket.number), h.store.counts(), h.store.outbox.pending_count()) == before


async def test_open_ticket_history_reopen_and_report(start: Start) -> None:
    h = await start()
    first, _ = await with_card(h)
    second, second_card = await with_card(h, township="", phone="", category="其他")
    h.store.questions.log("ask_policy", "answer", ["m1.5"], "护理补贴怎么申请")
    h.store.questions.log("ask_policy", "unknown", [], "电话13812345678的那个补贴")
    assert say("utter_staff_missing") in second_card["text"]

    (listing,) = await h.staff_says(STAFF_USER, "/open@xunwu_test_bot")
    assert first.number in listing and second.number in listing and "（2条）" in listing

    h.store.claim(first.number, str(STAFF_USER), "李干事")
    h.store.reply(first.number, str(STAFF_USER), "李干事", "明天上午来电话")
    h.store.close(first.number, str(STAFF_USER), "李干事")
    await h.deliver()
    assert h.store.outbox.pending_count() == 0
    (history,) = await h.staff_says(STAFF_USER, "/ticket " + first.number.lower().replace("-", " "))
    assert history.startswith(f"求助 {first.number} 的对话：\n") and f"求助 {first.number} 的记录：\n" in history
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

    assert await h.staff_says(STAFF_USER, f"/reopen {first.number}") == [
        say("utter_staff_reopened", ticket=first.number)
    ]
    await h.deliver()
    assert len([t for t in h.api.texts(STAFF_CHAT) if t.startswith(f"求助 {first.number}（")]) == 2
    assert await h.staff_says(STAFF_USER, f"/reopen {second.number}") == [
        say("utter_staff_not_closed", ticket=second.number)
    ]

    mark = h.api.mark()
    (summary,) = await h.staff_says(STAFF_USER, "/report 7")
    (photo,) = h.api.sent("sendPhoto", STAFF_CHAT, since=mark)
    png = photo.files["photo"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000
    width, height = struct.unpack(">II", png[16:24])
    assert width > 400 and height > 300
    assert "居民一共问了2个问题" in photo.params["caption"]
    assert "没能回答的问题" in summary
    assert "社会保障（m1）：1个" in summary and "13812345678" not in summary and "电话〔号码〕的那个补贴" in summary
