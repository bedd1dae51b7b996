"""The outbox deliverer: restarts (SIGKILL), Bot API outages and timeouts, who cannot be reached."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from sqlalchemy import update

from bot.runtime import sender_id
from common.texts import say
from tests.bot.conftest import (
    STAFF_CHAT,
    TOKEN,
    Bridges,
    card_calls,
    make_ticket,
    new_person,
    texts,
    wait_card,
    wait_text,
)
from tests.fakes.telegram_api import FakeTelegramAPI
from tickets.schema import outbox, tickets, utcnow
from tickets.store import TicketStore


def actions(store: TicketStore, number: str) -> list[str]:
    return [e["action"] for e in store.history(number)]


def test_sigkill_before_staff_is_told_then_the_card_arrives_exactly_once(
    bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore
) -> None:
    runner = bridges.subprocess()
    fake.fail_for(600, 500, methods=["sendMessage"])  # the staff group cannot be reached
    stored = make_ticket(store, new_person())
    fake.wait_for(
        lambda: any(not c.ok and stored.number in c.params.get("text", "") for c in fake.calls("sendMessage")),
        timeout=20,
        what="a failed attempt to send the card",
    )
    runner.kill()  # SIGKILL: the ticket is stored, staff were not told
    fake.reset_failures()
    while_down = make_ticket(store, new_person(), description="在网桥停着的时候提交的")
    assert card_calls(fake, stored.number) == [] and store.outbox.pending_count() == 2

    bridges.subprocess()
    for ticket in (stored, while_down):
        wait_card(fake, ticket.number, timeout=30)
        fake.wait_for(lambda t=ticket: "notified_staff" in actions(store, t.number), what="notified_staff")
    assert store.outbox.pending_count() == 0
    for ticket in (stored, while_down):
        assert len(card_calls(fake, ticket.number)) == 1
        assert actions(store, ticket.number).count("notified_staff") == 1
        assert len(store.cards.of_ticket(ticket.id)) == 1

    bridges.stop_all()
    logs = (bridges.data_dir / "bridge-subprocess.log").read_text(errors="replace")
    logs += (bridges.data_dir / "logs" / "bot.log").read_text(errors="replace")
    assert "card for" in logs and TOKEN not in logs and TOKEN.split(":")[1] not in logs


def test_bot_api_500s_and_timeouts_nothing_lost_or_doubled(
    bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore
) -> None:
    bridges.in_process(TELEGRAM_TIMEOUT="1.5")
    resident = new_person()
    fake.fail_for(2.0, 500)  # every method, getUpdates included
    first = make_ticket(store, resident)
    second = make_ticket(store, new_person())
    fake.push_command(resident, resident, "/start")  # waits in Telegram until polling recovers
    wait_card(fake, first.number, timeout=30)
    wait_card(fake, second.number, timeout=30)
    wait_text(fake, resident, say("utter_bot_start"), timeout=30)
    assert any(not c.ok and c.status == 500 for c in fake.calls("sendMessage", STAFF_CHAT))

    # a staff reply while the API answers 500 for a while, then slowly (but within the timeout)
    fake.fail_for(1.5, 500, methods=["sendMessage"])
    fake.delay_next(1, 0.5, methods=["sendMessage"])
    store.reply(first.number, "7001", "李干事", "我们明天打电话给您")
    reply_text = say("utter_bot_staff_reply", ticket=first.number, text="我们明天打电话给您")
    wait_text(fake, resident, reply_text, timeout=30)

    # a card update that times out (Telegram applies it late): retried, not doubled
    fake.delay_next(1, 2.5, methods=["editMessageText"])
    store.close(first.number, "7001", "李干事")
    wait_text(fake, resident, say("utter_bot_ticket_closed", ticket=first.number), timeout=30)
    fake.wait_for(lambda: store.outbox.pending_count() == 0, timeout=30, what="the outbox drained")
    edits = fake.calls("editMessageText", STAFF_CHAT)
    assert any(c.ok for c in edits)
    card = fake.message(STAFF_CHAT, card_calls(fake, first.number)[0].result["message_id"])
    assert say("utter_word_state_closed") in card["text"] and "reply_markup" not in card

    for ticket in (first, second):
        assert len(card_calls(fake, ticket.number)) == 1
        assert actions(store, ticket.number).count("notified_staff") == 1
    assert texts(fake, resident).count(reply_text) == 1
    assert actions(store, first.number).count("delivered_to_resident") == 1
    with store.engine.connect() as conn:
        tries = conn.execute(outbox.select().where(outbox.c.ticket_id == first.id)).all()
    errors = {row.kind: row.last_error or "" for row in tries if row.attempts}
    assert "500" in errors["resident_message"] or "Internal Server Error" in errors["resident_message"]
    assert any("TimedOut" in e for e in errors.values()), errors  # the late edit timed out, was retried


def test_residents_without_telegram_or_who_blocked_the_bot(
    bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore
) -> None:
    bridges.in_process()
    local = store.create("local-3f2a9c1d", "李先生", "13912345678", "晨光镇", "就业", "想找工作")
    blocked_person = new_person()
    blocked = make_ticket(store, blocked_person)
    wait_card(fake, local.number)
    wait_card(fake, blocked.number)
    fake.set_blocked(blocked_person)
    mark = fake.mark()
    store.reply(local.number, "7001", "李干事", "请来县残联三楼")
    store.reply(blocked.number, "7001", "李干事", "请回个电话")
    fake.wait_for(lambda: store.outbox.pending_count() == 0, what="the outbox drained")
    assert "no_telegram_chat" in actions(store, local.number)
    assert "resident_unreachable" in actions(store, blocked.number)
    wait_text(fake, STAFF_CHAT, say("utter_staff_resident_unreachable", ticket=blocked.number), since=mark)
    attempts = [c for c in fake.calls("sendMessage", blocked_person) if not c.ok]
    assert len(attempts) == 1 and attempts[0].status == 403  # recorded once, not retried
    assert not [c for c in fake.calls("sendMessage", since=mark) if "请来县残联三楼" in c.params.get("text", "")]


def test_without_staff_chat_staff_rows_wait_and_residents_still_hear(
    bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.delivery")
    resident = new_person()
    ticket = make_ticket(store, resident)
    bridges.in_process(STAFF_CHAT_ID="")
    store.reply(ticket.number, "cli", "cli", "已经收到，我们处理中")
    wait_text(fake, resident, "已经收到，我们处理中")

    def card_row() -> object:
        with store.engine.connect() as conn:
            return conn.execute(outbox.select().where(outbox.c.kind == "staff_card")).one()

    fake.wait_for(lambda: card_row().attempts >= 1, what="the card tried once")
    row = card_row()
    assert row.delivered_at is None and "STAFF_CHAT_ID" in row.last_error
    assert row.next_attempt_at >= row.created_at + timedelta(seconds=2)  # backs off: no busy loop
    assert not fake.calls("sendMessage", STAFF_CHAT)
    warnings = [r for r in caplog.records if "STAFF_CHAT_ID is not set" in r.getMessage()]
    assert len(warnings) == 1


def test_unclaimed_ticket_reminds_staff(bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore) -> None:
    ticket = make_ticket(store, new_person())
    with store.engine.begin() as conn:  # as if it had waited 31 minutes
        conn.execute(
            update(tickets).where(tickets.c.id == ticket.id).values(last_notified_at=utcnow() - timedelta(minutes=31))
        )
    bridges.in_process(RENOTIFY_MINUTES="30")
    card = wait_card(fake, ticket.number)
    reminder = wait_text(fake, STAFF_CHAT, say("utter_staff_renotify", ticket=ticket.number, minutes=30))
    assert reminder.params["reply_parameters"]["message_id"] == card.result["message_id"]
    fake.wait_for(lambda: "renotified_staff" in actions(store, ticket.number), what="renotified_staff")
    assert store.renotify_due(30) == []


def test_a_reply_to_the_reminder_reaches_the_resident(
    bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore
) -> None:
    bridges.in_process()
    resident = new_person()
    ticket = make_ticket(store, resident)
    wait_card(fake, ticket.number)
    store.add_resident_message(ticket.number, sender_id(resident, resident), "我还想补充：轮椅的刹车也坏了")
    note = wait_text(fake, STAFF_CHAT, "居民补充")
    mark = fake.mark()
    fake.push_text(STAFF_CHAT, 7001, "好的，一起修", reply_to_message_id=note.result["message_id"])
    wait_text(fake, STAFF_CHAT, say("utter_staff_reply_sent", ticket=ticket.number), since=mark)
    wait_text(fake, resident, "好的，一起修")


def test_staff_reply_is_spoken_to_a_resident_with_voice_on(
    bridges: Bridges, fake: FakeTelegramAPI, store: TicketStore
) -> None:
    bridges.in_process()
    resident = new_person()
    fake.push_command(resident, resident, "/voice")
    wait_text(fake, resident, say("utter_bot_voice_state", state=say("utter_word_on"), speed="正常"))
    fake.wait_for_call("sendVoice", resident, timeout=60)  # the switch itself is spoken
    ticket = make_ticket(store, resident)
    mark = fake.mark()
    store.reply(ticket.number, "7001", "李干事", "明天上午九点，我们给您打电话。")
    wait_text(fake, resident, "明天上午九点", since=mark)
    voice = fake.wait_for_call("sendVoice", resident, since=mark, timeout=60)
    assert voice.files["voice"][:4] == b"OggS"
    assert "delivered_to_resident" in actions(store, ticket.number)
