"""A person in danger: emergency numbers first, staff alerted at once, questions later.

The reply's first lines are the emergency lines (knowledge/emergency.yml, each with its
source) for the kinds of danger the message names (knowledge/danger.py). An urgent ticket
is stored before the resident is told that staff know (tickets: marked 紧急, reminded
sooner); if it cannot be stored, the resident is told to call and that staff were NOT told.
What the resident says next (where they are, a phone) is added to that ticket.
"""

from __future__ import annotations

import logging
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import log_question
from actions.pending import handles
from knowledge import danger
from knowledge.base import load_emergency
from tickets.fields import MAX_TEXT

logger = logging.getLogger(__name__)

URGENT_CATEGORY = "紧急"


def emergency_lines(kinds: list[str]) -> list[str]:
    """The emergency lines to say for these kinds of danger (sourced, at most 25 characters each)."""
    by_key = {line.key: line.text for line in load_emergency()}
    return [by_key[k] for k in danger.line_keys(kinds) if k in by_key]


def danger_kinds(message: dict[str, Any]) -> list[str]:
    """The kinds the understanding step found; found again from the text when missing."""
    found = (message.get("knowledge") or {}).get("danger")
    if isinstance(found, list):
        return [str(k) for k in found]
    from knowledge.lexical import normalise

    return list(danger.find(normalise(message.get("text") or "").replace(" ", "")).kinds)


def _recent_urgent(sender_id: str, number: str | None) -> Any:
    """The urgent ticket this conversation opened (still open), if any."""
    from tickets.store import default_store

    if not number:
        return None
    ticket = default_store().find_for_sender(number, sender_id)
    return ticket if ticket is not None and ticket.urgent and ticket.state != "closed" else None


class ActionUrgent(Action):
    """Says the emergency lines, stores an urgent ticket (or adds to the open one), asks where."""

    def name(self) -> str:
        return "action_urgent"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from tickets.store import default_store

        message = tracker.latest_message
        text = " ".join((message.get("text") or "").split())[:MAX_TEXT]
        kinds = danger_kinds(message)
        lines = emergency_lines(kinds)
        dispatcher.utter_message(response="utter_urgent", lines="\n".join(lines))
        events: list[EventType] = [SlotSet("answer_sources", [])]
        try:
            ticket = _recent_urgent(tracker.sender_id, tracker.get_slot("urgent_ticket"))
            store = default_store()
            if ticket is not None:
                store.add_resident_message(ticket.number, tracker.sender_id, text)
            else:
                ticket = store.create(
                    sender_id=tracker.sender_id,
                    contact_name=tracker.get_slot("contact_name") or "",
                    phone=tracker.get_slot("phone") or "",
                    township=tracker.get_slot("township") or "",
                    category=URGENT_CATEGORY,
                    description=text,
                    urgent=True,
                )
        except Exception:  # the resident must hear that staff were not told, and whom to call
            logger.exception("could not store an urgent ticket")
            dispatcher.utter_message(response="utter_urgent_not_told")
            return events
        logger.warning("urgent ticket %s for %s", ticket.number, tracker.sender_id)
        log_question(tracker, "urgent", [])
        dispatcher.utter_message(response="utter_urgent_told", json_message={"ticket": ticket.number, "urgent": True})
        return [
            *events,
            *_end_form(tracker),
            SlotSet("urgent_ticket", ticket.number),
            # after talk of ending one's life, what they say next is met with the lines again
            SlotSet(
                "pending",
                {"type": "urgent_details", "ticket": ticket.number, "crisis": "crisis" in kinds, "kinds": list(kinds)},
            ),
        ]


# What a form had asked, cleared when danger ends it (name, phone and township stay: the
# urgent ticket has them, and a later request need not ask again).
FORM_SLOTS_CLEARED = ("category", "description", "confirm", "note")


def _end_form(tracker: Tracker) -> list[EventType]:
    """Danger in the middle of the help form or a note ends it: no more questions now; what
    the person says next goes onto the urgent ticket."""
    if not (tracker.active_loop or {}).get("name"):
        return []
    return [ActiveLoop(None), SlotSet("requested_slot", None), *(SlotSet(s, None) for s in FORM_SLOTS_CLEARED)]


@handles("urgent_details")
def _short_reply_after_urgent(
    dispatcher: CollectingDispatcher, tracker: Tracker, pending: dict[str, Any], intent: str, choice: int | None
) -> list[EventType]:
    """ "好" / "嗯" / a digit right after the urgent reply: added to the urgent ticket too."""
    from actions.status import add_urgent_details

    return add_urgent_details(dispatcher, tracker, str(pending.get("ticket") or ""))
