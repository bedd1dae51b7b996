"""The submit is idempotent per form run: the same run submitted again (after a crash) finds
its ticket; a new run is a new ticket; a Telegram resident hears the number through the outbox."""

from __future__ import annotations

import copy
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from actions.help_form import ActionSubmitHelp, form_run
from tests.actions.conftest import tracker_state
from tickets.schema import outbox
from tickets.store import TicketStore

TG = "tg:100200310:100200310"


def submit_tracker(*events: dict[str, Any], sender: str = TG) -> Tracker:
    """The saved submit tracker (its slots: the answers, confirm yes) with exactly these events."""
    state = copy.deepcopy(tracker_state("submit_help"))
    state["sender_id"] = sender
    state["events"] = [*events, {"event": "active_loop", "name": None, "timestamp": 99.0}]
    return Tracker.from_dict(state)


def activation(ts: float) -> dict[str, Any]:
    return {"event": "active_loop", "name": "help_form", "timestamp": ts}


def confirmed(ts: float) -> dict[str, Any]:
    return {"event": "slot", "name": "confirm", "value": "yes", "timestamp": ts}


async def submit(tracker: Tracker, domain: DomainDict) -> CollectingDispatcher:
    dispatcher = CollectingDispatcher()
    await ActionSubmitHelp().run(dispatcher, tracker, domain)
    return dispatcher


def test_the_run_is_the_activation_before_the_latest_confirmation() -> None:
    # the action server died after storing: a later message re-activated the form, which
    # completed at once with the first run's confirmation
    again = submit_tracker(activation(10.0), confirmed(15.0), activation(20.0))
    assert form_run(again) == "help_form@10.0"
    # Rasa lost the turn: the second "0" confirms in the same run
    lost_turn = submit_tracker(activation(10.0), confirmed(30.0))
    assert form_run(lost_turn) == form_run(again)
    assert form_run(submit_tracker(activation(10.0), confirmed(15.0), activation(40.0), confirmed(45.0))) == (
        "help_form@40.0"
    )


async def test_a_retried_submit_stores_one_ticket_and_the_number_goes_through_the_outbox(
    domain: DomainDict, store: TicketStore
) -> None:
    first = await submit(submit_tracker(activation(10.0), confirmed(15.0)), domain)
    second = await submit(submit_tracker(activation(10.0), confirmed(15.0), activation(20.0)), domain)
    [ticket] = store.for_sender(TG)
    for dispatcher in (first, second):
        assert [m["custom"] for m in dispatcher.messages] == [{"ticket": ticket.number, "delivery": "outbox"}]
        assert all(m["response"] is None and m["text"] is None for m in dispatcher.messages)
    with store.engine.connect() as conn:
        kinds = [r.kind for r in conn.execute(select(outbox))]
    assert kinds == ["staff_card", "resident_ticket_created"]
    assert [e["action"] for e in store.history(ticket.number)] == ["created", "submit_retried"]


async def test_a_new_run_is_a_new_ticket(domain: DomainDict, store: TicketStore) -> None:
    await submit(submit_tracker(activation(10.0), confirmed(15.0)), domain)
    await submit(submit_tracker(activation(10.0), confirmed(15.0), activation(40.0), confirmed(45.0)), domain)
    assert len(store.for_sender(TG)) == 2


async def test_the_terminal_chat_hears_the_number_in_the_reply(domain: DomainDict, store: TicketStore) -> None:
    dispatcher = await submit(submit_tracker(activation(10.0), confirmed(15.0), sender="local-1a2b3c4d"), domain)
    [ticket] = store.for_sender("local-1a2b3c4d")
    assert [m["response"] for m in dispatcher.messages] == ["utter_ticket_created"]
    assert dispatcher.messages[0]["ticket"] == ticket.number
    with store.engine.connect() as conn:
        assert [r.kind for r in conn.execute(select(outbox))] == ["staff_card"]
