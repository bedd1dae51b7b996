"""The outbox deliverer in-process: who cannot be reached, no staff chat, reminders, notes,
speech; every kind the store queues has its sender. (Restarts, SIGKILL and Bot API outages
over real HTTP: test_http.py.)"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.runtime import sender_id
from common.texts import say
from tests.bot.conftest import STAFF_CHAT, STAFF_USER, Start, card_texts, make_ticket, new_person
from tickets.outbox import OutboxKind
from tickets.schema import outbox, tickets, utcnow


async def test_every_outbox_kind_has_a_sender(start: Start) -> None:
    h = await start()
    assert set(h.app.bridge.deliverer.senders) == set(OutboxKind)
    assert {k for k in OutboxKind if k.to_staff} == {k for k in OutboxKind if k.value.startswith("staff_")}


async def test_a_row_of_an_unknown_kind_waits_and_the_rest_goes_out(start: Start) -> None:
    h = await start()
    ticket = make_ticket(h.store, new_person())
    with h.store.engine.begin() as conn:
        conn.execute(
            outbox.insert().values(
                kind="from_a_newer_version",
                ticket_id=ticket.id,
                payload="{}",
                created_at=utcnow(),
                next_attempt_at=utcnow(),
                attempts=0,
            )
        )
    await h.deliver()
    assert card_texts(h.api, ticket.number)
    assert h.store.outbox.due() == [] and h.store.outbox.pending_count() == 1  # kept, backed off
    with h.store.engine.connect() as conn:
        kept = conn.execute(outbox.select().where(outbox.c.delivered_at.is_(None))).one()
    assert kept.kind == "from_a_newer_version" and "unknown kind" in kept.last_error


async def test_residents_without_telegram_or_who_blocked_the_bot(start: Start) -> None:
    h = await start()
    local = h.store.create("local-3f2a9c1d", "李先生", "13912345678", "晨光镇", "就业", "想找工作")
    blocked_person = new_person()
    blocked = make_ticket(h.store, blocked_person)
    await h.deliver()
    h.api.blocked.add(blocked_person)
    mark = h.api.mark()
    h.store.reply(local.number, "7001", "李干事", "请来县残联三楼")
    h.store.reply(blocked.number, "7001", "李干事", "请回个电话")
    await h.deliver()
    assert h.store.outbox.pending_count() == 0
    assert "no_telegram_chat" in h.actions(local.number)
    assert "resident_unreachable" in h.actions(blocked.number)
    assert say("utter_staff_resident_unreachable", ticket=blocked.number) in h.api.texts(STAFF_CHAT, mark)
    attempts = [c for c in h.api.calls[mark:] if c.chat_id == blocked_person and c.method == "sendMessage"]
    assert [c.status for c in attempts] == [403]
    await h.deliver()  # recorded once, not retried
    assert len([c for c in h.api.calls if c.chat_id == blocked_person]) == 1
    assert not [t for t in h.api.texts(STAFF_CHAT, mark) + h.api.texts(blocked_person) if "请来县残联三楼" in t]


async def test_without_staff_chat_staff_rows_wait_and_residents_still_hear(
    start: Start, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.delivery")
    h = await start(STAFF_CHAT_ID="")
    resident = new_person()
    ticket = make_ticket(h.store, resident)
    h.store.reply(ticket.number, "cli", "cli", "已经收到，我们处理中")
    await h.deliver()
    await h.deliver()
    assert say("utter_bot_staff_reply", ticket=ticket.number, text="已经收到，我们处理中") in h.api.texts(resident)
    with h.store.engine.connect() as conn:
        row = conn.execute(outbox.select().where(outbox.c.kind == "staff_card")).one()
    assert row.delivered_at is None and row.attempts == 1 and "STAFF_CHAT_ID" in row.last_error
    assert row.next_attempt_at >= row.created_at + timedelta(seconds=2)  # backs off: no busy loop
    assert not h.api.sent("sendMessage", STAFF_CHAT)
    assert len([r for r in caplog.records if "STAFF_CHAT_ID is not set" in r.getMessage()]) == 1


async def test_unclaimed_ticket_reminds_staff(start: Start) -> None:
    h = await start(RENOTIFY_MINUTES="30")
    ticket = make_ticket(h.store, new_person())
    await h.deliver()  # the card (and no reminder yet)
    with h.store.engine.begin() as conn:  # as if it had waited 31 minutes
        conn.execute(
            update(tickets).where(tickets.c.id == ticket.id).values(last_notified_at=utcnow() - timedelta(minutes=31))
        )
    h.app.bridge.deliverer._next_renotify = 0.0  # the next check is due now
    mark = h.api.mark()
    await h.deliver()
    (reminder,) = h.api.sent("sendMessage", STAFF_CHAT, since=mark)
    assert reminder.params["text"] == say("utter_staff_renotify", ticket=ticket.number, minutes=30)
    assert reminder.params["reply_parameters"]["message_id"] == h.card(ticket)["message_id"]
    assert "renotified_staff" in h.actions(ticket.number)
    assert h.store.renotify_due(30) == []


async def test_a_reply_to_the_residents_note_reaches_the_resident(start: Start) -> None:
    h = await start()
    resident = new_person()
    ticket = make_ticket(h.store, resident)
    await h.deliver()
    h.store.add_resident_message(ticket.number, sender_id(resident, resident), "我还想补充：轮椅的刹车也坏了")
    mark = h.api.mark()
    await h.deliver()
    (note,) = h.api.sent("sendMessage", STAFF_CHAT, since=mark)
    assert note.params["text"].startswith("居民补充")
    assert await h.staff_says(STAFF_USER, "好的，一起修", reply_to=note.result) == [
        say("utter_staff_reply_sent", ticket=ticket.number)
    ]
    await h.deliver()
    assert any("好的，一起修" in t for t in h.api.texts(resident))


async def test_staff_reply_is_spoken_to_a_resident_with_voice_on(start: Start) -> None:
    h = await start()
    resident = new_person()
    assert await h.say(resident, "/voice") == [say("utter_bot_voice_state", state=say("utter_word_on"), speed="正常")]
    assert h.api.sent("sendVoice", resident)  # the switch itself is spoken
    ticket = make_ticket(h.store, resident)
    mark = h.api.mark()
    h.store.reply(ticket.number, "7001", "李干事", "明天上午九点，我们给您打电话。")
    await h.deliver()
    assert any("明天上午九点" in t for t in h.api.texts(resident, mark))
    (voice,) = h.api.sent("sendVoice", resident, since=mark)
    assert voice.files["voice"][:4] == b"OggS"
    assert "delivered_to_resident" in h.actions(ticket.number)
