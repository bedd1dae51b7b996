"""Telegram failing, over real HTTP (tests/fakes/http_api.py): a poison update, one 500 / 429 /
timeout on the message that tells a resident the ticket number, short outages of each kind,
and two bridges at once. Nothing may be lost; a card may arrive twice only after a timeout.

The two-minute outages and the long runs are `make bench` (bench/reliability.py)."""

from __future__ import annotations

import logging
import time
from typing import Any

import pytest

from bot.runtime import sender_id
from common.texts import say
from tests.bot.conftest import STAFF_CHAT, ThreadBridge, actions, card_texts, new_person
from tests.fakes import bot_api
from tests.fakes.bot_api import BotApi, message_update
from tests.fakes.http_api import HttpBotApi
from tickets.leases import Leases
from tickets.schema import outbox
from tickets.store import Ticket, TicketStore


@pytest.fixture
def env_overrides() -> dict[str, str]:
    return {"TELEGRAM_TIMEOUT": "1.5"}  # the slow answers below come after it


def submitted(store: TicketStore, resident: int, text: str = "轮椅坏了") -> Ticket:
    """A ticket as the help form's submit stores it for a Telegram resident (number via the outbox)."""
    sender = sender_id(resident, resident)
    return store.create(sender, "王阿姨", "13812345678", "长宁镇", "补贴", text, key=f"k-{sender}", tell_resident=True)


def told(api: BotApi, resident: int, ticket: Ticket) -> list[str]:
    return [t for t in api.texts(resident) if t == say("utter_ticket_created", ticket=ticket.number)]


def test_a_poison_update_is_logged_once_skipped_and_the_next_message_answered(
    server: HttpBotApi, threads: Any, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.ERROR, logger="bot.screening")
    threads()
    me = new_person()
    poison = {"update_id": next(bot_api._update_ids), "message": {"message_id": 1, "chat": "不是一个对话", "date": "x"}}
    server.push_raw(poison)
    started = time.monotonic()
    server.push(message_update(server.api, me, me, text="/start"))
    server.api.wait_for(lambda: say("utter_bot_start") in server.api.texts(me), 10, "the answer after the poison")
    assert time.monotonic() - started < 5
    time.sleep(1.0)  # a few more polls: the poison must not come back
    assert server.pending_updates == 0
    skipped = [r for r in caplog.records if "cannot read" in r.getMessage()]
    assert len(skipped) == 1 and str(poison["update_id"]) in skipped[0].getMessage()


@pytest.mark.parametrize(
    "failure",
    [{"status": 500}, {"status": 429, "retry_after": 2}, {"status": 502}],
    ids=["500", "429-retry-after", "502"],
)
def test_one_error_on_the_ticket_number_message_and_the_resident_is_still_told_once(
    server: HttpBotApi, threads: Any, store: TicketStore, failure: dict[str, int]
) -> None:
    resident = new_person()
    server.api.fail(count=1, methods=("sendMessage",), **failure)
    threads()
    ticket = submitted(store, resident)
    started = time.monotonic()
    server.api.wait_for(lambda: told(server.api, resident, ticket), 30, "the ticket number")
    if failure.get("retry_after"):
        assert time.monotonic() - started >= failure["retry_after"]  # flood control honoured
    server.api.wait_for(lambda: store.outbox.pending_count() == 0, 30, "the outbox drained")
    assert len(told(server.api, resident, ticket)) == 1
    assert len(card_texts(server.api, ticket.number)) == 1
    assert actions(store, ticket.number).count("resident_told_number") == 1
    assert any(c.status == failure["status"] for c in server.api.calls)


def test_a_card_that_times_out_arrives_at_most_twice(server: HttpBotApi, threads: Any, store: TicketStore) -> None:
    server.slow(1, 3.0, ("sendMessage",))  # accepted at once, answered after the 1.5 s timeout
    threads()
    ticket = submitted(store, new_person())
    server.api.wait_for(lambda: "notified_staff" in actions(store, ticket.number), 30, "the card confirmed")
    assert len(card_texts(server.api, ticket.number)) == 2  # the one that timed out had arrived: one duplicate
    with store.engine.connect() as conn:
        row = conn.execute(outbox.select().where(outbox.c.kind == "staff_card")).one()
    assert row.uncertain == 1 and "TimedOut" in row.last_error
    assert any(c.method == "sendChatAction" and c.chat_id == STAFF_CHAT for c in server.api.calls)  # probed first


def test_a_card_that_times_out_twice_is_not_sent_a_third_time_and_staff_are_told(
    server: HttpBotApi, threads: Any, store: TicketStore
) -> None:
    threads()
    server.slow(2, 3.0, ("sendMessage",))
    ticket = store.create(sender_id(1, 1), "王阿姨", "13812345678", "长宁镇", "补贴", "只有卡片")
    alert = say("utter_staff_alert_uncertain", ticket=ticket.number)
    server.api.wait_for(lambda: alert in server.api.texts(STAFF_CHAT), 40, "the alert")
    time.sleep(2.0)
    assert len(card_texts(server.api, ticket.number)) == 2
    assert "delivery_uncertain" in actions(store, ticket.number)


@pytest.mark.parametrize("kind", ["500", "429", "timeout"])
def test_an_outage_of_each_kind_loses_nothing(server: HttpBotApi, threads: Any, store: TicketStore, kind: str) -> None:
    threads()
    sending = ("sendMessage", "editMessageText", "sendChatAction")
    if kind == "timeout":
        server.slow_for(8.0, 2.5, sending)
    else:
        server.api.fail(int(kind), seconds=8.0, methods=sending, retry_after=3 if kind == "429" else None)
    residents = [new_person() for _ in range(5)]
    tickets = []
    for resident in residents:
        tickets.append(submitted(store, resident, f"停电的时候提交的 {resident}"))
        time.sleep(1.0)
    server.api.wait_for(lambda: store.outbox.pending_count() == 0, 90, "the outbox drained")
    most = 2 if kind == "timeout" else 1
    for resident, ticket in zip(residents, tickets, strict=True):
        assert 1 <= len(card_texts(server.api, ticket.number)) <= most, kind
        assert 1 <= len(told(server.api, resident, ticket)) <= most, kind
        assert actions(store, ticket.number).count("notified_staff") == 1


def test_two_bridges_one_poller_no_message_twice(
    server: HttpBotApi, env: dict[str, str], store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    import bot.polling

    monkeypatch.setattr(bot.polling, "POLLER_RENEW_SECONDS", 0.5)
    monkeypatch.setattr(bot.polling, "POLLER_LEASE_SECONDS", 3.0)
    first = ThreadBridge(server)
    second = _spare(server)
    leases = Leases(store.engine)
    try:
        holder = leases.holder("telegram-poller")
        assert holder is not None and holder[0] == first.app.bridge.deliverer.owner
        tickets = [submitted(store, new_person(), f"两个网桥 {i}") for i in range(20)]
        people = [new_person() for _ in range(10)]
        for person in people:
            server.push(message_update(server.api, person, person, text="/help"))
        server.api.wait_for(lambda: store.outbox.pending_count() == 0, 60, "the outbox drained")
        for person in people:
            server.api.wait_for(lambda p=person: say("utter_bot_help") in server.api.texts(p), 20, "/help answered")
        for ticket in tickets:
            assert len(card_texts(server.api, ticket.number)) == 1
        time.sleep(1.0)
        assert all(server.api.texts(p).count(say("utter_bot_help")) == 1 for p in people)
        first.stop()  # the holder stops: the spare takes over
        late = new_person()
        server.push(message_update(server.api, late, late, text="/help"))
        server.api.wait_for(lambda: say("utter_bot_help") in server.api.texts(late), 20, "the spare answering")
        assert leases.holder("telegram-poller")[0] == second.app.bridge.deliverer.owner
    finally:
        second.stop()
        if first._thread.is_alive():
            first.stop()


def _spare(server: HttpBotApi) -> ThreadBridge:
    """A second bridge: it does not poll (no deleteWebhook), so it is started without waiting for one."""
    original = HttpBotApi.wait_call
    HttpBotApi.wait_call = lambda self, *a, **k: None  # type: ignore[method-assign]
    try:
        bridge = ThreadBridge(server)
    finally:
        HttpBotApi.wait_call = original  # type: ignore[method-assign]
    time.sleep(1.0)
    return bridge


# -- conversation replies (in-process) ---------------------------------------------------------------


@pytest.mark.parametrize("failure", [{"status": 500}, {"status": 429, "retry_after": 1}], ids=["500", "429"])
async def test_a_reply_that_meets_one_error_still_arrives(start: Any, failure: dict[str, int]) -> None:
    """The cause of the ticket lost in a 500 / 429 outage: a reply of the help form that Telegram
    refused once was dropped, so the resident never saw the next question (or the summary to
    confirm) and their request never became a ticket. Replies are now tried again."""
    h = await start()
    me = new_person()
    h.api.fail(count=1, methods=("sendMessage",), **failure)
    started = time.monotonic()
    assert await h.say(me, "/help") == [say("utter_bot_help")]
    if failure.get("retry_after"):
        assert time.monotonic() - started >= failure["retry_after"]
    assert [c.status for c in h.api.calls if c.method == "sendMessage" and c.chat_id == me] == [failure["status"], 200]


async def test_a_reply_telegram_refuses_is_logged_not_raised(start: Any, caplog: pytest.LogCaptureFixture) -> None:
    """A reply Telegram does not take (after the retries, or a 400 that no retry helps) ends in one
    warning: the handler finishes, nothing reaches the error handler, the next message is answered."""
    caplog.set_level(logging.WARNING, logger="bot.outgoing")
    caplog.set_level(logging.WARNING, logger="bot.app")
    h = await start()
    me = new_person()
    h.api.fail(count=1, methods=("sendMessage",), status=400)
    await h.say(me, "/help")
    messages = [r.getMessage() for r in caplog.records]
    assert any("not confirmed by Telegram" in m for m in messages), messages
    assert [c.status for c in h.api.calls if c.method == "sendMessage"] == [400]  # a 400 is not retried
    assert not any("error while handling an update" in m for m in messages), messages
    assert await h.say(me, "/help") == [say("utter_bot_help")]
