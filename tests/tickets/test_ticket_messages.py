"""A ticket's conversation in the store: whose turn it is, what residents add (text, voice,
photos), staff questions, and what is refused; the migration that added it."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tickets import migrations
from tickets.fields import MAX_TEXT
from tickets.schema import make_engine, outbox, ticket_events
from tickets.store import Ticket, TicketError, TicketStore

NewTicket = Callable[..., Ticket]
Rows = Callable[..., list[Any]]
RESIDENT = "tg:501:501"


def payloads(rows: Rows, kind: str) -> list[dict[str, Any]]:
    return [json.loads(o.payload) for o in rows(outbox) if o.kind == kind]


def test_whose_turn_it_is_follows_the_conversation(store: TicketStore, new_ticket: NewTicket) -> None:
    ticket = new_ticket(sender_id=RESIDENT)
    assert ticket.waiting_on == "staff"
    asked = store.reply(ticket.number, "7001", "李干事", "您家住在几楼？")
    assert (asked.state, asked.waiting_on) == ("answered", "resident")
    answered = store.add_resident_message(ticket.number, RESIDENT, "三楼，没有电梯", via="answer")
    assert answered.waiting_on == "staff"
    told = store.reply(ticket.number, "7001", "李干事", "好的，周三上午去")
    assert told.waiting_on == ""
    assert store.reply(ticket.number, "7001", "李干事", "带证就行", question=True).waiting_on == "resident"
    store.close(ticket.number, "7001", "李干事")
    assert store.get(ticket.number).waiting_on == ""
    store.reopen(ticket.number, "7001")
    assert store.get(ticket.number).waiting_on == "staff"
    actions = [h["action"] for h in store.history(ticket.number) if h["action"] in ("asked", "replied")]
    assert actions == ["asked", "replied", "asked"]


def test_a_question_reaches_the_resident_marked_as_one(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    ticket = new_ticket(sender_id=RESIDENT)
    store.reply(ticket.number, "7001", "李干事", "请问您的电话是多少?")
    store.reply(ticket.number, "7001", "李干事", "知道了。")
    assert [(p["text"], p["question"]) for p in payloads(rows, "resident_message")] == [
        ("请问您的电话是多少?", True),
        ("知道了。", False),
    ]


def test_voice_and_photos_are_kept_with_how_they_came(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    ticket = new_ticket(sender_id=RESIDENT)
    store.add_resident_message(ticket.number, RESIDENT, "", kind="voice", file_id="voice-1", via="reply")
    store.add_resident_message(ticket.number, RESIDENT, "屋顶漏水的地方", kind="photo", file_id="photo-9", via="offer")
    kept = [(m["kind"], m["file_id"], m["text"], m["via"]) for m in store.messages(ticket.number)]
    assert kept == [("voice", "voice-1", "", "reply"), ("photo", "photo-9", "屋顶漏水的地方", "offer")]
    notes = payloads(rows, "staff_note")
    assert [(n["media"], n.get("file_id"), n["via"]) for n in notes] == [
        ("voice", "voice-1", "reply"),
        ("photo", "photo-9", "offer"),
    ]
    events = [json.loads(e.detail) for e in rows(ticket_events) if e.action == "resident_note"]
    assert events == [{"via": "reply", "kind": "voice"}, {"via": "offer", "kind": "photo"}]


def test_danger_in_an_addition_makes_the_ticket_urgent(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    ticket = new_ticket(sender_id=RESIDENT)
    store.add_resident_message(ticket.number, RESIDENT, "他拿刀了", via="answer", urgent=True)
    assert store.get(ticket.number).urgent
    (note,) = payloads(rows, "staff_note")
    assert note["urgent"] is True
    assert [o.kind for o in rows(outbox)][-2:] == ["staff_note", "staff_card_update"]


def test_a_long_addition_is_cut_to_the_limit(store: TicketStore, new_ticket: NewTicket) -> None:
    ticket = new_ticket(sender_id=RESIDENT)
    store.add_resident_message(ticket.number, RESIDENT, "长" * 20_000)
    assert len(store.messages(ticket.number)[0]["text"]) == MAX_TEXT


def test_refused_additions_store_nothing(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    mine, other = new_ticket(sender_id=RESIDENT), new_ticket(sender_id="tg:502:502")
    store.close(mine.number, "7001", "李干事")
    before = (len(rows(outbox)), len(rows(ticket_events)))
    with pytest.raises(TicketError):
        store.add_resident_message(mine.number, RESIDENT, "还有一件事")  # closed
    with pytest.raises(TicketError):
        store.add_resident_message(other.number, RESIDENT, "写到别人的求助里")  # not theirs
    with pytest.raises(TicketError):
        store.add_resident_message(other.number, "tg:502:502", "x", kind="video")  # unknown kind
    with pytest.raises(TicketError):
        store.add_resident_message("XW-ZZZZZ", RESIDENT, "没有这个编号")
    assert (len(rows(outbox)), len(rows(ticket_events))) == before
    assert store.messages(mine.number) == [] and store.messages(other.number) == []


def test_open_for_sender_lists_only_their_open_tickets(store: TicketStore, new_ticket: NewTicket) -> None:
    first, second = new_ticket(sender_id=RESIDENT), new_ticket(sender_id=RESIDENT)
    new_ticket(sender_id="tg:502:502")
    closed = new_ticket(sender_id=RESIDENT)
    store.close(closed.number, "7001", "李干事")
    assert [t.number for t in store.open_for_sender(RESIDENT)] == [second.number, first.number]
    assert store.open_for_sender("nobody") == []


def test_version_3_upgrades_a_version_2_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'v2.db'}")
    with engine.begin() as conn:  # what release 2 left: steps 1 and 2, and its tickets
        migrations.schema_version.create(conn)
        for version, _title, step in migrations.MIGRATIONS[:2]:
            step(conn)
            conn.execute(migrations.schema_version.insert().values(version=version, applied_at=migrations.utcnow()))
        for number, state in (("XW-23456", "new"), ("XW-34567", "answered"), ("XW-45678", "closed")):
            conn.execute(
                text(
                    "INSERT INTO tickets (number, sender_id, contact_name, phone, township, category, description, "
                    f"state, created_at, updated_at) VALUES ('{number}', 's', '', '', '', '', 'old', '{state}', "
                    "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
                )
            )
        conn.execute(
            text(
                "INSERT INTO ticket_messages (ticket_id, at, author, from_staff, text) "
                "VALUES (1, '2026-01-01', 's', 0, '旧的')"
            )
        )
    assert migrations.migrate(engine) == migrations.MIGRATIONS[-1][0]  # 3 and every later step
    with engine.connect() as conn:
        waiting = dict(conn.execute(text("SELECT number, waiting_on FROM tickets")).all())
        message = conn.execute(text("SELECT kind, file_id, via FROM ticket_messages")).one()
    assert waiting == {"XW-23456": "staff", "XW-34567": "", "XW-45678": ""}
    assert tuple(message) == ("text", None, "")
