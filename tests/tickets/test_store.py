"""The ticket store on a real SQLite file: numbers, states, audit trail, outbox, restarts."""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import ANY

import pytest
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

from tickets.fields import MAX_TEXT as MAX_DESCRIPTION
from tickets.migrations import MIGRATIONS, migrate, schema_version
from tickets.numbers import ALPHABET, normalise_number
from tickets.outbox import OutboxRow
from tickets.schema import (
    make_engine,
    outbox,
    questions,
    ticket_events,
    ticket_messages,
    utcnow,
)
from tickets.schema import tickets as tickets_table
from tickets.store import Ticket, TicketError, TicketStore

NUMBER_RE = re.compile(r"XW-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{5}")
Rows = Callable[..., list[Any]]
NewTicket = Callable[..., Ticket]


def age(store: TicketStore, ticket: Ticket, minutes: float) -> None:
    """Make a ticket look as if it was created (and last announced) `minutes` ago."""
    then = utcnow() - timedelta(minutes=minutes)
    with store.engine.begin() as conn:
        conn.execute(
            update(tickets_table)
            .where(tickets_table.c.id == ticket.id)
            .values(created_at=then, updated_at=then, last_notified_at=then)
        )


def outbox_kinds(rows: Rows, ticket: Ticket) -> list[str]:
    return [r.kind for r in rows(outbox, ticket_id=ticket.id)]


# -- numbers ------------------------------------------------------------------------------------


def test_alphabet_has_no_look_alike_symbols() -> None:
    assert not set("01OIL") & set(ALPHABET)
    assert len(ALPHABET) == len(set(ALPHABET)) == 31


@pytest.mark.parametrize(
    ("typed", "number"),
    [
        ("XW-7K3P9", "XW-7K3P9"),
        ("xw 7k3p9", "XW-7K3P9"),
        ("7k3p9", "XW-7K3P9"),
        ("XW-7K3P0", ""),  # 0 is not in the alphabet
        ("XW-7K3P", ""),
        ("hello", ""),
    ],
)
def test_normalise_number(typed: str, number: str) -> None:
    assert normalise_number(typed) == number


# -- create -------------------------------------------------------------------------------------


def test_create_stores_the_fields_an_event_and_a_staff_card(store: TicketStore, rows: Rows) -> None:
    before = utcnow()
    ticket = store.create("100200301", "王阿姨", "13812345678", "吉潭镇", "补贴", "护理补贴三个月没发了")
    after = utcnow()

    assert NUMBER_RE.fullmatch(ticket.number)
    assert ticket == store.get(ticket.number) == store.get_by_id(ticket.id)
    assert (ticket.sender_id, ticket.contact_name, ticket.phone, ticket.township, ticket.category) == (
        "100200301",
        "王阿姨",
        "13812345678",
        "吉潭镇",
        "补贴",
    )
    assert ticket.description == "护理补贴三个月没发了"
    assert (ticket.state, ticket.claimed_by, ticket.claimed_by_name, ticket.audio_file) == ("new", None, None, None)
    assert before <= ticket.created_at == ticket.updated_at <= after

    events = rows(ticket_events)
    assert [(e.ticket_id, e.actor, e.action) for e in events] == [(ticket.id, "100200301", "created")]
    assert json.loads(events[0].detail) == {"category": "补贴", "township": "吉潭镇"}
    assert before <= events[0].at <= after

    cards = rows(outbox)
    assert [(o.kind, o.ticket_id, o.attempts, o.delivered_at) for o in cards] == [("staff_card", ticket.id, 0, None)]
    assert store.outbox.due() == [OutboxRow.from_row(cards[0])] and store.outbox.due()[0].payload == {}


def test_numbers_are_distinct(new_ticket: NewTicket) -> None:
    numbers = {new_ticket().number for _ in range(20)}
    assert len(numbers) == 20
    assert all(NUMBER_RE.fullmatch(n) for n in numbers)


def test_create_keeps_the_ticket_and_its_staff_card_in_one_transaction(
    store: TicketStore, rows: Rows, new_ticket: NewTicket
) -> None:
    # A real database failure while the staff card is queued (a trigger refuses outbox rows):
    # the ticket and its 'created' event must not be stored either.
    with store.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql(
                "CREATE FUNCTION outbox_down() RETURNS trigger AS $$ BEGIN "
                "RAISE EXCEPTION 'outbox down' USING ERRCODE = '23000'; END $$ LANGUAGE plpgsql"
            )
            conn.exec_driver_sql(
                "CREATE TRIGGER outbox_down BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION outbox_down()"
            )
        else:
            conn.exec_driver_sql(
                "CREATE TRIGGER outbox_down BEFORE INSERT ON outbox BEGIN SELECT RAISE(ABORT, 'outbox down'); END"
            )
    with pytest.raises((TicketError, IntegrityError)):
        new_ticket()
    assert rows(tickets_table) == []
    assert rows(ticket_events) == []
    assert rows(outbox) == []


def test_a_long_description_is_cut_to_the_limit(new_ticket: NewTicket) -> None:
    text = "护理补贴没发" * 2000
    ticket = new_ticket(description=text)
    assert ticket.description == text[:MAX_DESCRIPTION]
    assert len(ticket.description) == MAX_DESCRIPTION == 500


# -- state changes ------------------------------------------------------------------------------


def test_claim_reply_close_reopen_with_their_events_and_outbox_rows(
    store: TicketStore, rows: Rows, new_ticket: NewTicket
) -> None:
    before = utcnow()
    ticket = new_ticket(sender_id="100200301")
    number = ticket.number

    assert store.claim(number, "staff-7", "李干事") is True
    claimed = store.get(number)
    assert (claimed.state, claimed.claimed_by, claimed.claimed_by_name) == ("claimed", "staff-7", "李干事")
    assert store.claim(number, "staff-8", "张干事") is False
    assert store.get(number).claimed_by == "staff-7"

    replied = store.reply(number, "staff-7", "李干事", "已经联系吉潭镇，下周给您答复。")
    assert (replied.state, replied.claimed_by) == ("answered", "staff-7")

    assert store.close(number, "staff-7", "李干事") is True
    assert store.get(number).state == "closed"
    assert store.close(number, "staff-7", "李干事") is False
    with pytest.raises(TicketError):
        store.reply(number, "staff-7", "李干事", "补充一句")

    assert store.reopen(number, "100200301") is True
    reopened = store.get(number)
    assert (reopened.state, reopened.claimed_by, reopened.claimed_by_name) == ("new", None, None)
    assert store.reopen(number, "100200301") is False  # only a closed ticket can be reopened
    after = utcnow()

    events = rows(ticket_events, ticket_id=ticket.id)
    assert [(e.actor, e.action) for e in events] == [
        ("100200301", "created"),
        ("staff-7", "claimed"),
        ("staff-7", "replied"),
        ("staff-7", "closed"),
        ("100200301", "reopened"),
    ]
    times = [e.at for e in events]
    assert times == sorted(times)
    assert before <= times[0] and times[-1] <= after
    assert json.loads(events[1].detail) == {"name": "李干事"}

    assert outbox_kinds(rows, ticket) == [
        "staff_card",
        "staff_card_update",  # claimed
        "resident_message",  # the reply, for the resident
        "staff_card_update",
        "resident_closed",
        "staff_card_update",
        "staff_card",  # reopened: a new card
    ]
    resident = [o for o in rows(outbox, ticket_id=ticket.id) if o.kind == "resident_message"]
    assert json.loads(resident[0].payload) == {"text": "已经联系吉潭镇，下周给您答复。", "question": False}

    messages = store.messages(number)
    assert [(m["author"], m["from_staff"], m["text"]) for m in messages] == [
        ("staff-7", True, "已经联系吉潭镇，下周给您答复。")
    ]
    history = store.history(number)
    assert [h["action"] for h in history].count("message") == 1
    assert {h["action"] for h in history} == {"created", "claimed", "replied", "closed", "reopened", "message"}


def test_a_reply_to_a_new_ticket_claims_it(store: TicketStore, new_ticket: NewTicket) -> None:
    ticket = new_ticket()
    replied = store.reply(ticket.number, "staff-9", "赵干事", "请带残疾人证到乡镇受理窗口。")
    assert (replied.state, replied.claimed_by, replied.claimed_by_name) == ("answered", "staff-9", "赵干事")
    assert store.claim(ticket.number, "staff-7", "李干事") is False


def test_closing_a_new_ticket_records_who_closed_it(store: TicketStore, new_ticket: NewTicket) -> None:
    ticket = new_ticket()
    assert store.close(ticket.number, "staff-9", "赵干事") is True
    closed = store.get(ticket.number)
    assert (closed.state, closed.claimed_by, closed.claimed_by_name) == ("closed", "staff-9", "赵干事")


def test_a_lost_claim_leaves_no_trace(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    ticket = new_ticket()
    assert store.claim(ticket.number, "staff-7", "李干事") is True
    assert store.claim(ticket.number, "staff-8", "张干事") is False
    assert [e.action for e in rows(ticket_events)] == ["created", "claimed"]
    assert outbox_kinds(rows, ticket) == ["staff_card", "staff_card_update"]


def test_unknown_numbers_raise(store: TicketStore) -> None:
    for call in (
        lambda: store.get("XW-22222"),
        lambda: store.claim("XW-22222", "staff-7", "李干事"),
        lambda: store.reply("XW-22222", "staff-7", "李干事", "你好"),
        lambda: store.close("XW-22222", "staff-7", "李干事"),
        lambda: store.reopen("XW-22222", "staff-7"),
    ):
        with pytest.raises(TicketError):
            call()


@pytest.mark.parametrize("separate_engines", [False, True], ids=["one-store", "store-per-thread"])
def test_concurrent_claims_have_exactly_one_winner(
    db_url: str, store: TicketStore, rows: Rows, new_ticket: NewTicket, separate_engines: bool
) -> None:
    ticket = new_ticket()
    staff = 8
    stores = [TicketStore(make_engine(db_url)) if separate_engines else store for _ in range(staff)]
    start = threading.Barrier(staff)
    results: list[object] = [None] * staff

    def claim(i: int) -> None:
        start.wait()
        try:
            results[i] = stores[i].claim(ticket.number, f"staff-{i}", f"干事{i}")
        except Exception as exc:  # a database error is a failure of this test
            results[i] = exc

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(staff)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if separate_engines:
        for other in stores:
            other.engine.dispose()

    assert sorted(results, key=repr) == [False] * (staff - 1) + [True], results
    winner = results.index(True)
    claimed = store.get(ticket.number)
    assert (claimed.state, claimed.claimed_by, claimed.claimed_by_name) == (
        "claimed",
        f"staff-{winner}",
        f"干事{winner}",
    )
    claims = [e for e in rows(ticket_events) if e.action == "claimed"]
    assert [e.actor for e in claims] == [f"staff-{winner}"]
    assert outbox_kinds(rows, ticket).count("staff_card_update") == 1


# -- residents ----------------------------------------------------------------------------------


def test_for_sender_returns_only_that_senders_tickets_newest_first(store: TicketStore, new_ticket: NewTicket) -> None:
    mine = [new_ticket(sender_id="100200301", description=f"第{i}件事") for i in range(3)]
    other = new_ticket(sender_id="100200999")
    got = store.for_sender("100200301")
    assert [t.number for t in got] == [t.number for t in reversed(mine)]
    assert other.number not in {t.number for t in got}
    assert [t.number for t in store.for_sender("100200999")] == [other.number]
    assert store.for_sender("100200301", limit=2) == got[:2]
    assert store.for_sender("nobody") == []


def test_add_resident_message_to_own_open_ticket(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    ticket = new_ticket(sender_id="100200301")
    got = store.add_resident_message(ticket.number, "100200301", "村里说还要一张医院的证明")
    assert got.number == ticket.number
    assert [(m["author"], m["from_staff"], m["text"]) for m in store.messages(ticket.number)] == [
        ("100200301", False, "村里说还要一张医院的证明")
    ]
    assert [(e.actor, e.action) for e in rows(ticket_events)][-1] == ("100200301", "resident_note")
    notes = [o for o in rows(outbox) if o.kind == "staff_note"]
    assert [(o.ticket_id, json.loads(o.payload)) for o in notes] == [
        (ticket.id, {"text": "村里说还要一张医院的证明", "media": "text", "via": "note", "at": ANY})
    ]


def test_add_resident_message_refuses_another_senders_ticket(
    store: TicketStore, rows: Rows, new_ticket: NewTicket
) -> None:
    ticket = new_ticket(sender_id="100200301")
    with pytest.raises(TicketError):
        store.add_resident_message(ticket.number, "100200999", "这是我的事")
    assert store.messages(ticket.number) == []
    assert outbox_kinds(rows, ticket) == ["staff_card"]


def test_add_resident_message_refuses_a_closed_ticket(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    ticket = new_ticket(sender_id="100200301")
    store.close(ticket.number, "staff-7", "李干事")
    with pytest.raises(TicketError):
        store.add_resident_message(ticket.number, "100200301", "还有一件事")
    assert store.messages(ticket.number) == []
    assert "staff_note" not in outbox_kinds(rows, ticket)


# -- outbox ---------------------------------------------------------------------------------------


def test_delivered_rows_are_no_longer_due(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    first, second = new_ticket(), new_ticket()
    due = store.outbox.due()
    assert [(d.kind, d.ticket_id) for d in due] == [("staff_card", first.id), ("staff_card", second.id)]
    assert store.outbox.pending_count() == 2

    store.outbox.delivered(due[0].id, first.id, "card_sent")
    assert [d.id for d in store.outbox.due()] == [due[1].id]
    assert store.outbox.pending_count() == 1
    assert rows(outbox, id=due[0].id)[0].delivered_at is not None
    assert [(e.actor, e.action) for e in rows(ticket_events, ticket_id=first.id)] == [
        ("100200301", "created"),
        ("system", "card_sent"),
    ]
    assert store.outbox.due(limit=0) == []


def test_failed_delivery_backs_off_exponentially_up_to_the_cap(
    store: TicketStore, rows: Rows, new_ticket: NewTicket
) -> None:
    new_ticket()
    row_id = store.outbox.due()[0].id
    previous = rows(outbox, id=row_id)[0].next_attempt_at
    for attempt, delay in enumerate([2, 4, 8, 16, 30, 30, 30], start=1):
        before = utcnow()
        store.outbox.failed(row_id, f"telegram timeout {attempt}", max_delay=30)
        after = utcnow()
        row = rows(outbox, id=row_id)[0]
        assert row.attempts == attempt
        assert row.last_error == f"telegram timeout {attempt}"
        assert before + timedelta(seconds=delay) <= row.next_attempt_at <= after + timedelta(seconds=delay)
        assert row.next_attempt_at >= previous
        previous = row.next_attempt_at
        assert store.outbox.due() == []
        assert store.outbox.pending_count() == 1


def test_failed_delivery_default_cap_and_error_length(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    new_ticket()
    row_id = store.outbox.due()[0].id
    for _ in range(20):
        store.outbox.failed(row_id, "x" * 2000)
    before = utcnow()
    store.outbox.failed(row_id, "x" * 2000)
    row = rows(outbox, id=row_id)[0]
    assert row.attempts == 21
    assert len(row.last_error) == 500
    assert row.next_attempt_at - before <= timedelta(seconds=301)
    assert row.next_attempt_at - before >= timedelta(seconds=299)


def test_outbox_rows_survive_a_restart(db_url: str, store: TicketStore, new_ticket: NewTicket) -> None:
    ticket = new_ticket()
    store.claim(ticket.number, "staff-7", "李干事")
    card_id = store.outbox.due()[0].id
    store.outbox.failed(card_id, "network down")
    pending = store.outbox.due()
    store.engine.dispose()

    restarted = TicketStore(make_engine(db_url))
    try:
        assert restarted.outbox.due() == pending
        assert [d.kind for d in pending] == ["staff_card_update"]
        assert restarted.outbox.pending_count() == 2
        # Once its back-off has passed, the failed card is due again, with its attempts kept.
        with restarted.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == card_id).values(next_attempt_at=utcnow()))
        again = {d.id: d for d in restarted.outbox.due()}
        assert again[card_id].attempts == 1
        assert again[card_id].last_error == "network down"
        assert restarted.get(ticket.number).state == "claimed"
    finally:
        restarted.engine.dispose()


# -- reminders ------------------------------------------------------------------------------------


def test_renotify_only_unclaimed_tickets_older_than_the_delay_once_per_window(
    store: TicketStore, rows: Rows, new_ticket: NewTicket
) -> None:
    old = new_ticket(description="三十多分钟没人管")
    fresh = new_ticket(description="刚刚提交")
    claimed = new_ticket(description="已经有人接了")
    store.claim(claimed.number, "staff-7", "李干事")
    age(store, old, 31)
    age(store, claimed, 31)
    age(store, fresh, 5)

    assert [t.number for t in store.renotify_due(30)] == [old.number]
    reminders = [o for o in rows(outbox) if o.kind == "staff_renotify"]
    assert [(o.ticket_id, json.loads(o.payload)) for o in reminders] == [(old.id, {"minutes": 30})]

    assert store.renotify_due(30) == []  # the same window: no second reminder
    assert len([o for o in rows(outbox) if o.kind == "staff_renotify"]) == 1

    age(store, old, 31)  # another window has passed
    assert [t.number for t in store.renotify_due(30)] == [old.number]
    assert len([o for o in rows(outbox) if o.kind == "staff_renotify"]) == 2


def test_an_urgent_ticket_is_reminded_sooner(store: TicketStore, rows: Rows) -> None:
    urgent = store.create("tg:9:9", "", "", "", "紧急", "我老公拿刀要砍人", urgent=True)
    normal = store.create("tg:8:8", "", "", "", "补贴", "补贴没到账")
    assert store.get(urgent.number).urgent and not store.get(normal.number).urgent
    age(store, urgent, 6)
    age(store, normal, 6)
    assert [t.number for t in store.renotify_due(30, 5)] == [urgent.number]
    reminders = [json.loads(o.payload) for o in rows(outbox) if o.kind == "staff_renotify"]
    assert reminders == [{"minutes": 5}]


def test_a_reopened_ticket_waits_a_full_window(store: TicketStore, new_ticket: NewTicket) -> None:
    ticket = new_ticket()
    store.close(ticket.number, "staff-7", "李干事")
    age(store, ticket, 120)
    assert store.renotify_due(30) == []  # closed tickets are never reminded
    store.reopen(ticket.number, "100200301")
    assert store.renotify_due(30) == []


# -- schema ---------------------------------------------------------------------------------------


def test_migrate_twice_is_a_no_op(db_url: str) -> None:
    engine = make_engine(db_url)
    try:
        latest = MIGRATIONS[-1][0]
        assert migrate(engine) == latest
        assert migrate(engine) == latest
        TicketStore(engine)  # a store migrates on start as well
        with engine.connect() as conn:
            versions = [r.version for r in conn.execute(select(schema_version))]
        assert versions == [v for v, _, _ in MIGRATIONS]
        assert set(inspect(engine).get_table_names()) >= {
            "schema_version",
            "tickets",
            "ticket_events",
            "ticket_messages",
            "outbox",
            "staff_cards",
            "questions",
        }
    finally:
        engine.dispose()


def test_counts_and_open_tickets(store: TicketStore, new_ticket: NewTicket) -> None:
    a, b, c = new_ticket(), new_ticket(), new_ticket()
    store.claim(b.number, "staff-7", "李干事")
    store.close(c.number, "staff-7", "李干事")
    assert store.counts() == {"new": 1, "claimed": 1, "answered": 0, "closed": 1}
    assert [t.number for t in store.open_tickets()] == [a.number, b.number]


def test_staff_cards_map_telegram_messages_to_tickets(store: TicketStore, new_ticket: NewTicket) -> None:
    ticket = new_ticket()
    store.cards.remember("-100123", 41, ticket.id)
    store.cards.remember("-100123", 41, ticket.id)  # remembering twice is harmless
    store.cards.remember("555", 7, ticket.id)
    assert store.cards.ticket_for("-100123", 41) == ticket
    assert store.cards.ticket_for("-100123", 42) is None
    assert sorted(store.cards.of_ticket(ticket.id)) == [("-100123", 41), ("555", 7)]


# -- questions ------------------------------------------------------------------------------------


def test_log_question_and_questions_between(store: TicketStore, rows: Rows) -> None:
    start = utcnow()
    store.questions.log("ask_policy", "answer", ["m1.5"], "护理补贴一个月多少钱")
    store.questions.log("ask_policy", "clarify", ["m1.5", "m7.2"], "残疾证" * 200)
    end = utcnow() + timedelta(microseconds=1)

    got = store.questions.between(start, end)
    assert [(q["intent"], q["decision"], q["sources"]) for q in got] == [
        ("ask_policy", "answer", "m1.5"),
        ("ask_policy", "clarify", "m1.5,m7.2"),
    ]
    assert got[0]["text"] == "护理补贴一个月多少钱"
    assert got[1]["text"] == ("残疾证" * 200)[:300]
    assert all(start <= q["at"] < end for q in got)

    first_at: datetime = got[0]["at"]
    assert store.questions.between(start - timedelta(days=1), start) == []
    assert [q["id"] for q in store.questions.between(start, first_at)] == []  # the end is exclusive
    assert [q["id"] for q in store.questions.between(first_at, end)] == [q["id"] for q in got]
    assert len(rows(questions)) == 2


def test_messages_of_another_ticket_are_not_mixed(store: TicketStore, rows: Rows, new_ticket: NewTicket) -> None:
    a, b = new_ticket(), new_ticket()
    store.reply(a.number, "staff-7", "李干事", "给A的回复")
    store.reply(b.number, "staff-7", "李干事", "给B的回复")
    assert [m["text"] for m in store.messages(a.number)] == ["给A的回复"]
    assert [m["text"] for m in store.messages(b.number)] == ["给B的回复"]
    assert len(rows(ticket_messages)) == 2
