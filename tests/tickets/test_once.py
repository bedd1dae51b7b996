"""Exactly once: a submit retried with its key finds its ticket; two deliverers never hold one
outbox row; one migration among processes starting at once; one poller lease holder."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

from sqlalchemy import select, update

from tests.conftest import fresh_database_url
from tickets.leases import Leases, owner_is_dead
from tickets.model import submit_key
from tickets.outbox import OutboxKind
from tickets.schema import make_engine, outbox, tickets, utcnow
from tickets.store import TicketStore

ROOT = Path(__file__).resolve().parents[2]


def form(store: TicketStore, sender: str = "tg:5:5", key: str | None = "k1", **extra: object) -> tuple:
    return store.create_once(sender, "王阿姨", "13812345678", "吉潭镇", "补贴", "轮椅坏了", key=key, **extra)


def test_a_retried_submit_returns_the_first_ticket_and_stores_nothing_more(store: TicketStore, rows) -> None:
    first, stored = form(store, tell_resident=True)
    again, stored_again = form(store, tell_resident=True)
    assert stored and not stored_again and again == first
    assert len(rows(tickets)) == 1
    kinds = [r.kind for r in rows(outbox)]
    assert kinds == ["staff_card", "resident_ticket_created"]  # the number still on its way: not queued twice
    assert [e["action"] for e in store.history(first.number)] == ["created", "submit_retried"]


def test_a_retry_after_the_number_was_delivered_tells_it_again(store: TicketStore, rows) -> None:
    first, _ = form(store, tell_resident=True)
    told = next(r for r in rows(outbox) if r.kind == "resident_ticket_created")
    store.outbox.delivered(told.id, first.id, "resident_told_number")
    form(store, tell_resident=True)
    assert [r.kind for r in rows(outbox)].count("resident_ticket_created") == 2
    assert len(rows(tickets)) == 1


def test_other_form_runs_and_other_senders_are_other_tickets(store: TicketStore, rows) -> None:
    a, _ = form(store, key=submit_key("tg:5:5", "help_form@1.0"))
    b, _ = form(store, key=submit_key("tg:5:5", "help_form@2.0"))
    c, _ = form(store, sender="tg:6:6", key=submit_key("tg:6:6", "help_form@1.0"))
    d, _ = form(store, key=None)
    e, _ = form(store, key=None)
    assert len({a.number, b.number, c.number, d.number, e.number}) == 5


def test_concurrent_submits_with_one_key_make_one_ticket(db_url: str, rows) -> None:
    stores = [TicketStore(make_engine(db_url)) for _ in range(6)]
    results: list[str] = []
    errors: list[BaseException] = []
    gate = threading.Barrier(len(stores))

    def submit(store: TicketStore) -> None:
        gate.wait()
        try:
            results.append(form(store, key="same-run", tell_resident=True)[0].number)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=submit, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert not errors and len(results) == 6 and len(set(results)) == 1
    with stores[0].engine.connect() as conn:
        assert len(conn.execute(select(tickets)).all()) == 1
        assert Counter(r.kind for r in conn.execute(select(outbox))) == {"staff_card": 1, "resident_ticket_created": 1}


def test_what_telegram_sends_longer_than_a_column_is_cut_not_refused(store: TicketStore) -> None:
    name = "长" * 129  # a Telegram full name: 64 + space + 64
    ticket = store.create("tg:1:1", "名" * 300, "13812345678", "吉潭镇", "补贴", "x")
    assert len(ticket.contact_name) == 128
    assert store.claim(ticket.number, "7001", name)
    assert store.get(ticket.number).claimed_by_name == name


# -- the outbox: claims --------------------------------------------------------------------------


def test_a_claimed_row_is_held_until_done_or_its_lease_ends(store: TicketStore, new_ticket) -> None:
    new_ticket()
    first = store.outbox.claim_next("a", lease_seconds=60)
    assert first is not None and first.lease_owner == "a"
    assert store.outbox.claim_next("b") is None and store.outbox.due() == []
    with store.engine.begin() as conn:  # as if the lease had run out (its holder hung or died)
        conn.execute(update(outbox).values(lease_until=utcnow() - timedelta(seconds=1)))
    taken = store.outbox.claim_next("b")
    assert taken is not None and taken.id == first.id and taken.lease_owner == "b"
    assert store.outbox.delivered(first.id, first.ticket_id, "notified_staff")
    assert not store.outbox.delivered(first.id, first.ticket_id, "notified_staff")  # the late one records nothing
    number = store.get_by_id(first.ticket_id).number
    assert [e["action"] for e in store.history(number)].count("notified_staff") == 1


def test_failed_and_uncertain_attempts_release_the_row(store: TicketStore, new_ticket) -> None:
    new_ticket()
    row = store.outbox.claim_next("a")
    store.outbox.uncertain(row.id, "TimedOut", delay=0)
    again = store.outbox.claim_next("b")
    assert again.id == row.id and again.uncertain == 1 and again.attempts == 1
    store.outbox.failed(again.id, "NetworkError", delay=0)
    assert store.outbox.claim_next("c").uncertain == 1


def test_many_deliverers_at_once_claim_every_row_exactly_once(db_url: str) -> None:
    store = TicketStore(make_engine(db_url))
    for i in range(60):
        store.create(f"tg:{i}:{i}", "王", "13812345678", "吉潭镇", "补贴", "x")
    claimed: list[int] = []
    lock = threading.Lock()

    def deliver(owner: str) -> None:
        mine = TicketStore(make_engine(db_url))
        while (row := mine.outbox.claim_next(owner)) is not None:
            with lock:
                claimed.append(row.id)
            mine.outbox.delivered(row.id, row.ticket_id, "notified_staff")

    threads = [threading.Thread(target=deliver, args=(f"d{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(claimed) == sorted(set(claimed)) and len(claimed) == 60
    assert store.outbox.pending_count() == 0


def test_rows_held_by_a_dead_local_deliverer_are_freed(store: TicketStore, new_ticket) -> None:
    new_ticket()
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    owner = f"{os.uname().nodename[:30]}:{dead.pid}:deadbeef"
    assert owner_is_dead(owner) and not owner_is_dead(f"other-host:{dead.pid}:x")
    assert store.outbox.claim_next(owner) is not None
    assert store.outbox.claim_next("b") is None
    assert store.outbox.reclaim_dead(owner_is_dead) == 1
    assert store.outbox.claim_next("b") is not None


def test_overdue_rows_are_reported_once(store: TicketStore, new_ticket) -> None:
    new_ticket()
    with store.engine.begin() as conn:
        conn.execute(update(outbox).values(created_at=utcnow() - timedelta(minutes=11)))
    assert len(store.outbox.mark_overdue(10)) == 1
    assert store.outbox.mark_overdue(10) == []
    store.outbox.alert("utter_staff_alert_overdue", count=1, minutes=10, tickets="XW-22222")
    assert [r.kind for r in store.outbox.due()][-1] == OutboxKind.STAFF_ALERT


# -- leases ---------------------------------------------------------------------------------------


def test_one_lease_holder_at_a_time(store: TicketStore) -> None:
    leases = Leases(store.engine)
    assert leases.acquire("poller", "a", 30)
    assert not leases.acquire("poller", "b", 30)
    assert leases.acquire("poller", "a", 30)  # renewed
    assert leases.holder("poller")[0] == "a"
    leases.release("poller", "a")
    assert leases.holder("poller") is None
    assert leases.acquire("poller", "b", 0.2)
    time.sleep(0.3)
    assert leases.acquire("poller", "a", 30)  # b's lease ran out


def test_concurrent_lease_takers_one_wins(db_url: str) -> None:
    TicketStore(make_engine(db_url))
    won: list[str] = []
    gate = threading.Barrier(8)

    def take(owner: str) -> None:
        leases = Leases(make_engine(db_url))
        gate.wait()
        if leases.acquire("poller", owner, 30):
            won.append(owner)

    threads = [threading.Thread(target=take, args=(f"o{i}",)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(won) == 1


# -- migrations --------------------------------------------------------------------------------------


def test_twenty_processes_opening_a_fresh_database_at_once_all_start(tmp_path: Path) -> None:
    url = fresh_database_url(tmp_path)
    env = {**os.environ, "DATABASE_URL": url, "XUNWU_DATA_DIR": str(tmp_path)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "tickets.migrate"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        for _ in range(20)
    ]
    outcomes = [(p.wait(120), p.stderr.read().decode()) for p in procs]
    assert [code for code, _ in outcomes] == [0] * 20, [err for code, err in outcomes if code][:2]
    with make_engine(url).connect() as conn:
        from tickets.migrations import MIGRATIONS, schema_version

        assert sorted(r[0] for r in conn.execute(select(schema_version.c.version))) == [v for v, _, _ in MIGRATIONS]


def test_an_unreachable_database_stops_with_one_line_naming_the_variable(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "DATABASE_URL": "postgresql://xunwu:secret-pw@127.0.0.1:1/tickets",
        "DB_RETRY_SECONDS": "1",
        "XUNWU_DATA_DIR": str(tmp_path),
    }
    done = subprocess.run([sys.executable, "-m", "tickets.migrate"], cwd=ROOT, env=env, capture_output=True, text=True)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: DATABASE_URL=") and "secret-pw" not in lines[0]
    assert "Traceback" not in done.stderr
