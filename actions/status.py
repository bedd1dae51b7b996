"""A resident's own help requests: how they are going, and what they add to an open one.

"查进度" lists the sender's own tickets. "我还要补充…" / "告诉工作人员…" adds to an open
ticket: what follows the asking words is the note ("我还要补充：他的银行卡换过了"); without
it the note is asked for (note_form). A ticket number in the message chooses the ticket;
with two or more open, the resident chooses by digit (pending "which_ticket"). A new help
request while one is open first asks "1 补充到这个求助 2 新的求助" (pending "open_ticket",
asked by actions/help_form.py). Only the sender's own, open tickets are ever touched.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import digit_buttons
from actions.pending import handles
from common.choices import fold, numbered
from common.texts import say
from tickets.fields import MAX_TEXT
from tickets.model import Ticket, TicketError
from tickets.numbers import find_number
from tickets.replies import note_content
from tickets.schema import to_local
from tickets.views import state_word

logger = logging.getLogger(__name__)

# At most this many open tickets are offered by digit (the most recent ones).
MAX_CHOICES = 3


def _store() -> Any:
    from tickets.store import default_store

    return default_store()


def _date(ticket: Ticket) -> str:
    created = to_local(ticket.created_at)
    return f"{created.month}月{created.day}日"


class ActionTicketStatus(Action):
    """Lists the sender's recent tickets in plain words; never anyone else's."""

    def name(self) -> str:
        return "action_ticket_status"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        store = _store()
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
            reply = ""
            if replies:
                name = "utter_ticket_question" if ticket.waiting_on == "resident" else "utter_ticket_reply"
                reply = say(name, text=replies[-1]["text"])
            dispatcher.utter_message(
                response="utter_ticket_line",
                ticket=ticket.number,
                state=state_word(ticket.state),
                when=_date(ticket),
                reply=reply,
            )
        return [SlotSet("answer_sources", [])]


def open_tickets(sender_id: str) -> list[Ticket]:
    """The sender's open tickets that can be chosen by digit, most recent first."""
    return _store().open_for_sender(sender_id, limit=MAX_CHOICES)


def ticket_options(tickets: list[Ticket]) -> list[str]:
    """ "补充到求助 XW-7K3P9（补贴，11月29日）" for each ticket."""
    return [say("utter_option_add_to", ticket=t.number, category=t.category or "", when=_date(t)) for t in tickets]


def offer_open_tickets(dispatcher: CollectingDispatcher, sender_id: str, text: str | None) -> list[EventType] | None:
    """With open tickets, ask whether a new request should rather be added to one:
    "您已经有一个求助 XW-… 在处理中。1 补充到这个求助 2 新的求助". None when none is open."""
    mine = open_tickets(sender_id)
    if not mine:
        return None
    if len(mine) == 1:
        dispatcher.utter_message(response="utter_open_ticket", ticket=mine[0].number, buttons=digit_buttons(2))
    else:
        options = [*ticket_options(mine), say("utter_option_new_request")]
        dispatcher.utter_message(
            response="utter_open_tickets",
            count=len(mine),
            options=numbered(options),
            buttons=digit_buttons(len(options)),
        )
    pending = {"type": "open_ticket", "tickets": [t.number for t in mine], "text": (text or "")[:MAX_TEXT]}
    return [SlotSet("pending", pending)]


def add_note(dispatcher: CollectingDispatcher, tracker: Tracker, number: str, text: str) -> list[EventType]:
    """Add `text` to the sender's open ticket `number` and say so (or why not)."""
    done: list[EventType] = [SlotSet("answer_sources", []), SlotSet("pending", None), SlotSet("note_ticket", None)]
    note = " ".join(text.split())
    if not note:
        dispatcher.utter_message(response="utter_note_no_ticket")
        return done
    try:
        ticket = _store().add_resident_message(number, tracker.sender_id, note[:MAX_TEXT], via="note")
    except TicketError as exc:  # closed meanwhile, or not theirs: nothing stored
        logger.info("note for %s not added: %s", number, exc)
        dispatcher.utter_message(response="utter_note_ticket_closed", ticket=number)
        return done
    if len(note) > MAX_TEXT:
        dispatcher.utter_message(response="utter_note_trimmed", limit=MAX_TEXT)
    logger.info("note added to %s by %s", ticket.number, tracker.sender_id)
    dispatcher.utter_message(response="utter_note_added", ticket=ticket.number)
    return done


def add_or_ask(dispatcher: CollectingDispatcher, tracker: Tracker, text: str, targets: list[Ticket]) -> list[EventType]:
    """Add the note to the one target, or ask which of several (pending "which_ticket")."""
    if len(targets) == 1:
        return add_note(dispatcher, tracker, targets[0].number, text)
    options = ticket_options(targets)
    dispatcher.utter_message(
        response="utter_note_which",
        count=len(targets),
        options=numbered(options),
        buttons=digit_buttons(len(options)),
    )
    pending = {"type": "which_ticket", "tickets": [t.number for t in targets], "note": text[: MAX_TEXT + 1]}
    return [SlotSet("answer_sources", []), SlotSet("pending", pending)]


class ActionStartNote(Action):
    """ "我还要补充…": adds what follows to the open ticket, or asks for it, or asks which ticket."""

    def name(self) -> str:
        return "action_start_note"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        # rules.yml goes on after this action (wait_for_user_input: false): unless the note
        # form follows, the assistant listens next.
        listen = FollowupAction("action_listen")
        pending = tracker.get_slot("pending") or {}
        if pending.get("type") == "urgent_details":  # where they are, a phone…: straight onto the urgent ticket
            return [*add_urgent_details(dispatcher, tracker, str(pending.get("ticket") or "")), listen]
        text = tracker.latest_message.get("text") or ""
        targets = open_tickets(tracker.sender_id)
        named = find_number(fold(text))
        if named:
            own = _store().find_for_sender(named, tracker.sender_id)
            if own is None:
                dispatcher.utter_message(response="utter_note_not_found", ticket=named)
                return [SlotSet("answer_sources", []), listen]
            if not own.is_open:
                dispatcher.utter_message(response="utter_note_ticket_closed", ticket=named)
                return [SlotSet("answer_sources", []), listen]
            targets = [own]
        if not targets:
            dispatcher.utter_message(response="utter_note_no_ticket")
            return [SlotSet("answer_sources", []), listen]
        content = note_content(text)
        if content:
            return [*add_or_ask(dispatcher, tracker, content, targets), listen]
        target = targets[0].number if len(targets) == 1 else None
        return [
            SlotSet("note", None),
            SlotSet("note_ticket", target),
            SlotSet("answer_sources", []),
            FollowupAction("note_form"),
        ]


def add_urgent_details(dispatcher: CollectingDispatcher, tracker: Tracker, number: str) -> list[EventType]:
    """What a resident says right after the urgent reply goes onto the urgent ticket."""
    text = " ".join((tracker.latest_message.get("text") or "").split())[:MAX_TEXT]
    events: list[EventType] = [SlotSet("answer_sources", []), SlotSet("pending", None)]
    store = _store()
    ticket = store.find_for_sender(number, tracker.sender_id) if number else None
    if ticket is None or ticket.state == "closed" or not text:
        dispatcher.utter_message(response="utter_urgent_details_lost")
        return events
    store.add_resident_message(ticket.number, tracker.sender_id, text, via="urgent")
    dispatcher.utter_message(response="utter_urgent_details_added", ticket=ticket.number)
    return events


class ActionSubmitNote(Action):
    """The note asked for: onto the chosen ticket, the only open one, or ask which."""

    def name(self) -> str:
        return "action_submit_note"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        note = " ".join((tracker.get_slot("note") or "").split())  # kept as typed
        chosen = tracker.get_slot("note_ticket")
        events: list[EventType] = [SlotSet("note", None), SlotSet("note_ticket", None)]
        if chosen:
            return [*events, *add_note(dispatcher, tracker, chosen, note)]
        targets = open_tickets(tracker.sender_id)
        if not targets or not note:
            dispatcher.utter_message(response="utter_note_no_ticket")
            return events
        return [*events, *add_or_ask(dispatcher, tracker, note, targets)]


def _choice_of(intent: str, choice: int | None, count: int) -> int | None:
    """The digit chosen; a plain yes when there was only one ticket to choose."""
    if choice is None and intent == "affirm" and count == 1:
        return 1
    return choice


@handles("which_ticket")
def _which_ticket(
    dispatcher: CollectingDispatcher, tracker: Tracker, pending: dict[str, Any], intent: str, choice: int | None
) -> list[EventType]:
    """ "补充到哪一个？1 XW-… 2 XW-…": the note goes to the ticket of the digit."""
    numbers = [str(n) for n in pending.get("tickets", [])]
    choice = _choice_of(intent, choice, len(numbers))
    if choice is not None and 1 <= choice <= len(numbers):
        return add_note(dispatcher, tracker, numbers[choice - 1], str(pending.get("note") or ""))
    if intent == "deny":
        dispatcher.utter_message(response="utter_note_not_added")
    else:
        dispatcher.utter_message(response="utter_choice_expired")
    return [SlotSet("answer_sources", []), SlotSet("pending", None)]


@handles("open_ticket")
def _open_ticket(
    dispatcher: CollectingDispatcher, tracker: Tracker, pending: dict[str, Any], intent: str, choice: int | None
) -> list[EventType]:
    """ "1 补充到这个求助 2 新的求助": add what they said (or ask for it), or start the form."""
    numbers = [str(n) for n in pending.get("tickets", [])]
    text = str(pending.get("text") or "")
    choice = _choice_of(intent, choice, len(numbers))
    cleared: list[EventType] = [SlotSet("answer_sources", []), SlotSet("pending", None)]
    if choice is not None and 1 <= choice <= len(numbers):
        if text:
            return add_note(dispatcher, tracker, numbers[choice - 1], text)
        return [
            *cleared,
            SlotSet("note", None),
            SlotSet("note_ticket", numbers[choice - 1]),
            FollowupAction("note_form"),
        ]
    if choice == len(numbers) + 1:
        return [*cleared, SlotSet("description", text or None), FollowupAction("action_start_help")]
    dispatcher.utter_message(response="utter_note_not_added" if intent == "deny" else "utter_choice_expired")
    return cleared
