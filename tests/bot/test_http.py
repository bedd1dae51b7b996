"""The bridge over real HTTP, against a local Bot API server (tests/fakes/http_api.py): long
polling, the webhook and its secret, SIGKILL of `python -m bot`, 5xx answers and timeouts.
The bridge runs as production runs it (`bot.polling.run`): in a thread, or as a subprocess."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from common.texts import say
from tests.bot.conftest import STAFF_CHAT, TOKEN, actions, card_texts, make_ticket, new_person
from tests.conftest import free_port
from tests.fakes.bot_api import message_update
from tests.fakes.http_api import HttpBotApi
from tickets.schema import outbox
from tickets.store import TicketStore


def python_m_bot(server: HttpBotApi, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    mark = server.api.mark()
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "bot"],
            cwd=log.parent,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        server.wait_call("deleteWebhook", since=mark, timeout=60)
    except TimeoutError:
        os.killpg(proc.pid, signal.SIGKILL)
        raise AssertionError(f"the bridge did not start:\n{log.read_text(errors='replace')}") from None
    return proc


def test_sigkill_before_staff_is_told_then_the_card_arrives_exactly_once(
    server: HttpBotApi, env: dict[str, str], store: TicketStore, tmp_path: Path
) -> None:
    log = tmp_path / "bridge.log"
    proc = python_m_bot(server, env, log)
    server.api.fail(500, seconds=600, methods=("sendMessage",))  # the staff group cannot be reached
    stored = make_ticket(store, new_person())
    server.api.wait_for(
        lambda: any(not c.ok and stored.number in c.params.get("text", "") for c in server.api.calls),
        what="a failed attempt to send the card",
    )
    os.killpg(proc.pid, signal.SIGKILL)  # no cleanup: the ticket is stored, staff were not told
    proc.wait(10)
    server.api.reset_failures()
    while_down = make_ticket(store, new_person(), description="在网桥停着的时候提交的")
    assert card_texts(server.api, stored.number) == [] and store.outbox.pending_count() == 2

    proc = python_m_bot(server, env, log)
    try:
        for ticket in (stored, while_down):
            server.api.wait_for(lambda t=ticket: "notified_staff" in actions(store, t.number), 30, "notified_staff")
        assert store.outbox.pending_count() == 0
        for ticket in (stored, while_down):
            assert len(card_texts(server.api, ticket.number)) == 1
            assert actions(store, ticket.number).count("notified_staff") == 1
            assert len(store.cards.of_ticket(ticket.id)) == 1
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(30) == 0
    logs = log.read_text(errors="replace") + (Path(env["XUNWU_DATA_DIR"]) / "logs" / "bot.log").read_text()
    assert "card for" in logs and TOKEN not in logs and TOKEN.split(":")[1] not in logs


def test_polling_through_500s_and_timeouts_nothing_lost_or_doubled(
    server: HttpBotApi, threads: Any, store: TicketStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TELEGRAM_TIMEOUT", "1.5")
    threads()
    api = server.api
    resident = new_person()
    api.fail(500, seconds=2.0)  # every method, getUpdates included
    first = make_ticket(store, resident)
    second = make_ticket(store, new_person())
    server.push(message_update(api, resident, resident, text="/start"))  # waits until polling recovers
    api.wait_for(lambda: card_texts(api, first.number) and card_texts(api, second.number), 30, "both cards")
    api.wait_for(lambda: say("utter_bot_start") in api.texts(resident), 30, "the answer to /start")
    assert any(not c.ok and c.status == 500 for c in api.calls if c.chat_id == STAFF_CHAT)

    # a staff reply while the API answers 500 for a while, then slowly (within the timeout)
    api.fail(500, seconds=1.5, methods=("sendMessage",))
    server.slow(1, 0.5, ("sendMessage",))
    store.reply(first.number, "7001", "李干事", "我们明天打电话给您")
    reply_text = say("utter_bot_staff_reply", ticket=first.number, text="我们明天打电话给您")
    api.wait_for(lambda: reply_text in api.texts(resident), 30, "the staff reply")

    # a card update that times out (Telegram applied it, the answer came late): retried, not doubled
    server.slow(1, 2.5, ("editMessageText",))
    store.close(first.number, "7001", "李干事")
    closed = say("utter_bot_ticket_closed", ticket=first.number)
    api.wait_for(lambda: closed in api.texts(resident), 30, "the closing message")
    api.wait_for(lambda: store.outbox.pending_count() == 0, 30, "the outbox drained")
    card = api.messages[(STAFF_CHAT, store.cards.of_ticket(first.id)[0][1])]
    assert say("utter_word_state_closed") in card["text"] and "reply_markup" not in card

    for ticket in (first, second):
        assert len(card_texts(api, ticket.number)) == 1
        assert actions(store, ticket.number).count("notified_staff") == 1
    assert api.texts(resident).count(reply_text) == 1
    assert actions(store, first.number).count("delivered_to_resident") == 1
    with store.engine.connect() as conn:
        tries = conn.execute(outbox.select().where(outbox.c.ticket_id == first.id)).all()
    errors = {row.kind: row.last_error or "" for row in tries if row.attempts}
    assert "Internal Server Error" in errors["resident_message"]
    assert any("TimedOut" in e for e in errors.values()), errors  # the late edit timed out, was retried


def test_webhook_mode_with_secret(server: HttpBotApi, threads: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    port = free_port()
    monkeypatch.setenv("TELEGRAM_MODE", "webhook")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_URL", f"http://127.0.0.1:{port}/tg/hook")
    monkeypatch.setenv("TELEGRAM_WEBHOOK_PORT", str(port))
    monkeypatch.setenv("TELEGRAM_WEBHOOK_SECRET", "s3cret-Token_1")
    threads()
    assert server.webhook == (f"http://127.0.0.1:{port}/tg/hook", "s3cret-Token_1")
    me = new_person()
    server.push(message_update(server.api, me, me, text="/start"))
    server.api.wait_for(lambda: say("utter_bot_start") in server.api.texts(me), what="the answer to /start")
    forged = message_update(server.api, me, me, text="/help")
    assert server.post_to_webhook(forged, secret="wrong") == 403
    assert server.post_to_webhook(forged, secret=None) == 403
    assert say("utter_bot_help") not in server.api.texts(me)
