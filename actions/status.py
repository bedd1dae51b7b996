"""A resident's own help requests: how they are going, and adding a note to an open one."""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from common.choices import fold
from tickets.fields import MAX_TEXT
from tickets.lifecycle import Ticket
from tickets.numbers import find_number
from tickets.schema import to_local
from tickets.views import state_word

logger = logging.getLogger(__name__)


class ActionTicketStatus(Action):
    """Lists the sender's recent tickets in plain words; never anyone else's."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from tickets.store import default_store

        store = default_store()
        mine = store.for_sender(tracker.sender_id)
        asked = find_number(fold(tracker.latest_message.get("text") or ""))
        if not mine:
            dispatcher.utter_message(response="utter_no_tickets")
            return [SlotSet("answer_sources", [])]
        shown = mine[:3]
        if asked:
            own = store.find_for_sender(asked, tracker.sender_id)
            if own is None:  # someone else's or no such ticket: say nothing about it
                dispatcher.utter_message(response="utter_ticket_not_found")
            else:
                shown = [own]
        for ticket in shown:
            replies = [m for m in store.messages(ticket.number) if m["from_staff"]]
            reply = f"最新回复：{replies[-1]['text']}" if replies else ""
            created = to_local(ticket.created_at)
            dispatcher.utter_message(
                response="utter_ticket_line",
                ticket=ticket.number,
                state=state_word(ticket.state),
                when=f"{created.month}月{created.day}日",
                reply=reply,
            )
        return [SlotSet("answer_sources", [])]


def _open_ticket(sender_id: str) -> Ticket | None:
    from tickets.store import default_store

    return next((t for t in default_store().for_sender(sender_id) if t.state != "closed"), None)


class ActionStartNote(Action):
    """ "我还要补充": asks for the note when the person has an open ticket."""

    def name(self) -> str:
        return "action_start_note"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        pending = tracker.get_slot("pending") or {}
        if pending.get("type") == "urgent_details":  # where they are, a phone…: straight onto the urgent ticket
            added = add_urgent_details(dispatcher, tracker, str(pending.get("ticket") or ""))
            return [*added, FollowupAction("action_listen")]
        if _open_ticket(tracker.sender_id) is None:
            dispatcher.utter_message(response="utter_note_no_ticket")
            return [SlotSet("answer_sources", []), FollowupAction("action_listen")]
        return [SlotSet("note", None), SlotSet("answer_sources", []), FollowupAction("note_form")]


def add_urgent_details(dispatcher: CollectingDispatcher, tracker: Tracker, number: str) -> list[EventType]:
    """What a resident says right after the urgent reply goes onto the urgent ticket."""
    from tickets.store import default_store

    text = " ".join((tracker.latest_message.get("text") or "").split())[:MAX_TEXT]
    events: list[EventType] = [SlotSet("answer_sources", []), SlotSet("pending", None)]
    ticket = default_store().find_for_sender(number, tracker.sender_id) if number else None
    if ticket is None or ticket.state == "closed" or not text:
        dispatcher.utter_message(response="utter_urgent_details_lost")
        return events
    default_store().add_resident_message(ticket.number, tracker.sender_id, text)
    dispatcher.utter_message(response="utter_urgent_details_added", ticket=ticket.number)
    return events


class ActionSubmitNote(Action):
    """Adds the note to the person's most recent open ticket; staff are told."""

    def name(self) -> str:
        return "action_submit_note"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from tickets.store import default_store

        note = " ".join((tracker.get_slot("note") or "").split())[:MAX_TEXT]  # kept as typed
        ticket = _open_ticket(tracker.sender_id)
        if ticket is None or not note:
            dispatcher.utter_message(response="utter_note_no_ticket")
            return [SlotSet("note", None)]
        default_store().add_resident_message(ticket.number, tracker.sender_id, note)
        dispatcher.utter_message(response="utter_note_added", ticket=ticket.number)
        return [SlotSet("note", None)]
