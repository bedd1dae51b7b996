"""action_urgent: the emergency lines, an urgent ticket stored before the person hears staff
know, and the end of a form it interrupts."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.urgent import ActionUrgent
from tickets.store import TicketStore

LoadTracker = Callable[..., Tracker]
ReadOut = Callable[[CollectingDispatcher], list[str]]


async def test_danger_in_the_help_form_ends_it_with_an_urgent_ticket(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore
) -> None:
    tracker = load_tracker("help_form_category", "我老公拿刀冲进来了", "urgent")
    events = await ActionUrgent().run(dispatcher, tracker, domain)
    (ticket,) = store.for_sender(tracker.sender_id)
    assert ticket.urgent and ticket.description == "我老公拿刀冲进来了"
    assert (ticket.contact_name, ticket.township) == ("王阿姨", "留车镇")  # what the form had collected
    assert events == [
        SlotSet("answer_sources", []),
        ActiveLoop(None),
        SlotSet("requested_slot", None),
        SlotSet("category", None),
        SlotSet("description", None),
        SlotSet("confirm", None),
        SlotSet("note", None),
        SlotSet("urgent_ticket", ticket.number),
        SlotSet("pending", {"type": "urgent_details", "ticket": ticket.number, "crisis": False, "kinds": ["police"]}),
    ]
    said: list[dict[str, Any]] = dispatcher.messages
    assert "110" in said[0]["lines"]  # the emergency line first, then that staff know
    assert said[1]["response"] == "utter_urgent_told" and said[1]["custom"]["ticket"] == ticket.number
