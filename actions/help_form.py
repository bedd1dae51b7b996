"""The help-request form: who, phone, 乡镇, what kind, what happened, then confirm.

Every question with choices can be answered with a digit; "算了" cancels at any point
(rules.yml); at the confirm step a digit 1–5 re-asks that field. The ticket is stored
(tickets/store.py) before the resident hears its number.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import digit_buttons
from common.choices import digit_choice, fold, numbered
from common.logs import mask
from tickets.fields import CATEGORIES, MAX_TEXT, TOWNSHIPS, parse_category, parse_name, parse_phone, parse_township

logger = logging.getLogger(__name__)

TELEGRAM_SENDER = "tg:"  # bot/runtime.py sender_id()

FORM_SLOTS = ("contact_name", "phone", "township", "category", "description", "confirm")
CONFIRM_FIELDS = FORM_SLOTS[:5]
MAX_DESCRIPTION = MAX_TEXT
MIN_DESCRIPTION = 2
YES_WORDS = ("0", "确认", "同意", "提交", "好", "好的", "可以", "对", "是", "没问题")
# Words that ask for staff but describe nothing: not a description.
BARE_REQUESTS = {"求助", "转人工", "人工", "我要求助", "帮帮我", "我需要帮助", "找人工", "我要人工"}


def clear_form() -> list[EventType]:
    return [SlotSet(s, None) for s in FORM_SLOTS] + [SlotSet("requested_slot", None)]


class ActionStartHelp(Action):
    """Starts the form, keeping what the person already said as the description."""

    def name(self) -> str:
        return "action_start_help"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_help_intro")
        events: list[EventType] = [SlotSet(s, None) for s in FORM_SLOTS if s != "description"]
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = " ".join((tracker.latest_message.get("text") or "").split())
        if intent == "request_help":
            described = text if fold(text) not in BARE_REQUESTS else None
            events.append(SlotSet("description", described[:MAX_DESCRIPTION] if described else None))
        elif intent == "human":
            events.append(SlotSet("description", None))
        # otherwise (an accepted "shall I pass it on?") the question is already the description
        return [*events, SlotSet("answer_sources", [])]  # rules.yml runs help_form next


def ask_choice(dispatcher: CollectingDispatcher, response: str, options: tuple[str, ...]) -> list[EventType]:
    """Ask with the numbered `options` and a digit keyboard 1..n."""
    dispatcher.utter_message(response=response, options=numbered(options), buttons=digit_buttons(len(options)))
    return []


class ActionAskTownship(Action):
    def name(self) -> str:
        return "action_ask_township"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return ask_choice(dispatcher, "utter_ask_township", TOWNSHIPS)


class ActionAskCategory(Action):
    def name(self) -> str:
        return "action_ask_category"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        return ask_choice(dispatcher, "utter_ask_category", CATEGORIES)


class ActionAskConfirm(Action):
    def name(self) -> str:
        return "action_ask_confirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        values = {s: tracker.get_slot(s) or "" for s in CONFIRM_FIELDS}
        dispatcher.utter_message(response="utter_ask_confirm", buttons=digit_buttons(6, start=0), **values)
        return []


def checked(dispatcher: CollectingDispatcher, slot: str, parsed: str | None, invalid: str) -> dict:
    """The slot's parsed value; None (asked again) with the `invalid` message when it did not parse."""
    if parsed is None:
        dispatcher.utter_message(response=invalid)
    return {slot: parsed}


class ValidateHelpForm(FormValidationAction):
    """Checks each answer; a bad one gets a clear message and is asked again."""

    def name(self) -> str:
        return "validate_help_form"

    def validate_contact_name(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict:
        return checked(dispatcher, "contact_name", parse_name(str(value or "")), "utter_invalid_name")

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        phone = parse_phone(str(value or ""))
        if phone is None:
            logger.info("invalid phone given: %s", mask(str(value)[:40]))
            dispatcher.utter_message(response="utter_invalid_phone")
        return {"phone": phone}

    def validate_township(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return checked(dispatcher, "township", parse_township(str(value or "")), "utter_invalid_township")

    def validate_category(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return checked(dispatcher, "category", parse_category(str(value or "")), "utter_invalid_category")

    def validate_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict:
        text = " ".join(str(value or "").split())  # kept as typed (punctuation included)
        if len(text) < MIN_DESCRIPTION or digit_choice(text) is not None:
            dispatcher.utter_message(response="utter_invalid_description")
            return {"description": None}
        if len(text) > MAX_DESCRIPTION:
            dispatcher.utter_message(response="utter_description_trimmed", limit=MAX_DESCRIPTION)
            text = text[:MAX_DESCRIPTION]
        return {"description": text}

    def validate_confirm(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        text = fold(str(value or ""))
        if text in YES_WORDS:
            return {"confirm": "yes"}
        choice = digit_choice(text)
        if choice is not None and 1 <= choice <= len(CONFIRM_FIELDS):
            return {"confirm": None, CONFIRM_FIELDS[choice - 1]: None}
        dispatcher.utter_message(response="utter_invalid_confirm")
        return {"confirm": None}


def form_run(tracker: Tracker) -> str:
    """What identifies the form run whose answers are being submitted: the moment it was
    activated — the activation before the latest confirmation ("0").

    A submit retried after a crash finds the same one: when Rasa lost the turn, the
    resident's second "0" confirms in the same run; when the action server died after
    storing the ticket, Rasa kept the answers and a later message may re-activate the form,
    which completes at once with the first run's confirmation. Rasa sends the events back to
    the start of the last two runs (rasa_addons/server.py). Without them (a plain Rasa), the
    answers themselves and the day stand in: the same request twice on one day is one.
    """
    confirmed = False
    latest_run = None
    for event in reversed(tracker.events):
        kind = event.get("event")
        if kind == "slot" and event.get("name") == "confirm" and event.get("value") == "yes":
            confirmed = True
        elif kind == "active_loop" and event.get("name") == "help_form":
            latest_run = latest_run or event
            if confirmed:
                return f"help_form@{event.get('timestamp')!r}"
    if latest_run is not None:
        return f"help_form@{latest_run.get('timestamp')!r}"
    answers = "\x1f".join(str(tracker.get_slot(s) or "") for s in CONFIRM_FIELDS)
    return f"answers@{date.today().isoformat()}\x1f{answers}"


class ActionSubmitHelp(Action):
    """Stores the ticket once per form run, then tells the number; on a database error, says so honestly.

    A Telegram resident hears the number through the outbox (queued with the ticket and
    delivered by the bridge, retried until Telegram confirms it), so the reply of this turn
    carries only `{"ticket": …, "delivery": "outbox"}`; other senders (the terminal chat,
    REST clients) have no outbox route and get the sentence in the reply.
    """

    def name(self) -> str:
        return "action_submit_help"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        from tickets.lifecycle import submit_key
        from tickets.store import default_store

        if tracker.get_slot("confirm") != "yes":
            dispatcher.utter_message(response="utter_cancelled")
            return clear_form()
        telegram = tracker.sender_id.startswith(TELEGRAM_SENDER)
        try:
            ticket, stored = default_store().create_once(
                sender_id=tracker.sender_id,
                contact_name=tracker.get_slot("contact_name") or "",
                phone=tracker.get_slot("phone") or "",
                township=tracker.get_slot("township") or "",
                category=tracker.get_slot("category") or "",
                description=tracker.get_slot("description") or "",
                key=submit_key(tracker.sender_id, form_run(tracker)),
                tell_resident=telegram,
            )
        except Exception:  # the resident must hear that it failed
            logger.exception("could not store a help request")
            dispatcher.utter_message(response="utter_ticket_failed")
            return clear_form()
        logger.info("ticket %s %s for %s", ticket.number, "stored" if stored else "found again", tracker.sender_id)
        if telegram:
            dispatcher.utter_message(json_message={"ticket": ticket.number, "delivery": "outbox"})
        else:
            dispatcher.utter_message(
                response="utter_ticket_created", ticket=ticket.number, json_message={"ticket": ticket.number}
            )
        return clear_form()


class ActionCancelForm(Action):
    """ "算了" inside a form: stop it and forget what was typed."""

    def name(self) -> str:
        return "action_cancel_form"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        dispatcher.utter_message(response="utter_cancelled")
        return [ActiveLoop(None), *clear_form(), SlotSet("note", None), SlotSet("answer_sources", [])]
