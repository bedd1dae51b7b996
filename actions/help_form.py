"""The help-request form: who, phone, 乡镇, what kind, what happened, then confirm.

Every question with choices can be answered with a digit; "算了" cancels at any point
(rules.yml); at the confirm step 0 (零, 〇, 好, 对, 提交, "好的 提交"…) submits and a digit
1–5 re-asks that field. A phone may be said in Chinese numerals (一三八…, 幺) or inside a
sentence; on Telegram it may be left out (staff answer in the chat, and the card says so).
A question given as the name is answered when the knowledge can, and the name asked again.
Someone who already has an open request is asked first whether to add to it
("您已经有一个求助 XW-… 在处理中。1 补充到这个求助 2 新的求助"; actions/status.py answers).
The ticket is stored (tickets/store.py) before the resident hears its number.
"""

from __future__ import annotations

import logging
from datetime import date
from typing import Any

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import ActiveLoop, EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.answer import digit_buttons, say_entry
from common.choices import digit_choice, fold, numbered
from common.logs import mask
from common.texts import say
from knowledge.base import load
from knowledge.cues import NUMBER_ASK
from tickets.fields import CATEGORIES, MAX_TEXT, TOWNSHIPS, parse_category, parse_name, parse_township
from tickets.phone import declines_phone, parse_phone, reachable_in_chat
from tickets.replies import is_filler, looks_like_question, parse_confirm

logger = logging.getLogger(__name__)

TELEGRAM_SENDER = "tg:"  # bot/runtime.py sender_id()

FORM_SLOTS = ("contact_name", "phone", "township", "category", "description", "confirm")
CONFIRM_FIELDS = FORM_SLOTS[:5]
MAX_DESCRIPTION = MAX_TEXT
MIN_DESCRIPTION = 2
# The entry that says what is on record of the federation's phone and address.
CONTACT_ENTRY = "county-dpf-contact"
# Words that ask for staff but describe nothing: not a description.
BARE_REQUESTS = {"求助", "转人工", "人工", "我要求助", "帮帮我", "我需要帮助", "找人工", "我要人工"}


def clear_form() -> list[EventType]:
    return [SlotSet(s, None) for s in FORM_SLOTS] + [SlotSet("requested_slot", None)]


class ActionStartHelp(Action):
    """Starts the form, keeping what the person already said as the description; with a
    request already open, first asks whether to add to it (pending "open_ticket")."""

    def name(self) -> str:
        return "action_start_help"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        intent = (tracker.latest_message.get("intent") or {}).get("name")
        text = " ".join((tracker.latest_message.get("text") or "").split())
        described = text if intent == "request_help" and fold(text) not in BARE_REQUESTS else None
        if intent == "human" and NUMBER_ASK.search(fold(text).replace(" ", "")):
            # "残联电话多少 我自己打过去": what the knowledge says of the number (none on record), then a person
            entry = load().by_key[CONTACT_ENTRY]
            dispatcher.utter_message(response="utter_number_not_on_record", answer=entry.answer, cite=entry.cite)
        if intent in ("request_help", "human"):
            from actions.status import offer_open_tickets

            asked = offer_open_tickets(dispatcher, tracker.sender_id, described)
            if asked is not None:
                return [*asked, SlotSet("answer_sources", []), FollowupAction("action_listen")]
        dispatcher.utter_message(response="utter_help_intro")
        events: list[EventType] = [SlotSet(s, None) for s in FORM_SLOTS if s != "description"]
        if intent == "request_help":
            events.append(SlotSet("description", described[:MAX_DESCRIPTION] if described else None))
        elif intent == "human":
            events.append(SlotSet("description", None))
        # otherwise (an accepted "shall I pass it on?", or "2 新的求助") the description is already set
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


class ActionAskPhone(Action):
    """The phone question; on Telegram it says the phone may be left out."""

    def name(self) -> str:
        return "action_ask_phone"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        in_chat = reachable_in_chat(tracker.sender_id)
        dispatcher.utter_message(response="utter_ask_phone_chat" if in_chat else "utter_ask_phone")
        return []


class ActionAskConfirm(Action):
    def name(self) -> str:
        return "action_ask_confirm"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        values = {s: tracker.get_slot(s) or "" for s in CONFIRM_FIELDS}
        if not values["phone"]:
            values["phone"] = say("utter_confirm_no_phone")
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
        text = str(value or "")
        if looks_like_question(text):  # a question, not a name: answer it if the knowledge can, then ask again
            answer_if_known(dispatcher, tracker)
            dispatcher.utter_message(response="utter_name_is_question")
            return {"contact_name": None}
        return checked(dispatcher, "contact_name", parse_name(text), "utter_invalid_name")

    def validate_phone(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        text = str(value or "")
        in_chat = reachable_in_chat(tracker.sender_id)
        if in_chat and declines_phone(text):
            return {"phone": ""}  # staff answer in the Telegram chat; the card says so
        phone = parse_phone(text)
        if phone is None and declines_phone(text):
            dispatcher.utter_message(response="utter_phone_needed")  # off Telegram, a phone is the only way back
        elif phone is None:
            logger.info("invalid phone given: %s", mask(text[:40]))
            dispatcher.utter_message(response="utter_invalid_phone_chat" if in_chat else "utter_invalid_phone")
        return {"phone": phone}

    def validate_township(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return checked(dispatcher, "township", parse_township(str(value or "")), "utter_invalid_township")

    def validate_category(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        return checked(dispatcher, "category", parse_category(str(value or "")), "utter_invalid_category")

    def validate_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict
    ) -> dict:
        text = " ".join(str(value or "").split())  # kept as typed (punctuation included)
        if len(text) < MIN_DESCRIPTION or digit_choice(text) is not None or is_filler(text):
            dispatcher.utter_message(response="utter_invalid_description")
            return {"description": None}
        if looks_like_question(text) and answer_if_known(dispatcher, tracker):
            dispatcher.utter_message(response="utter_form_goes_on")  # the question stays the description
        if len(text) > MAX_DESCRIPTION:
            dispatcher.utter_message(response="utter_description_trimmed", limit=MAX_DESCRIPTION)
            text = text[:MAX_DESCRIPTION]
        return {"description": text}

    def validate_confirm(self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict) -> dict:
        answer = parse_confirm(str(value or ""))
        if answer == "yes":
            return {"confirm": "yes"}
        if isinstance(answer, int):
            return {"confirm": None, CONFIRM_FIELDS[answer - 1]: None}
        dispatcher.utter_message(response="utter_invalid_confirm")
        return {"confirm": None}


def answer_if_known(dispatcher: CollectingDispatcher, tracker: Tracker) -> bool:
    """Answer the latest message from the knowledge when the understanding step was sure of
    one entry; True when it did (nothing is said otherwise)."""
    from knowledge.base import load

    knowledge = tracker.latest_message.get("knowledge") or {}
    ranking = knowledge.get("ranking") or []
    kb = load()
    if knowledge.get("decision") != "answer" or not ranking or ranking[0].get("key") not in kb.by_key:
        return False
    say_entry(dispatcher, kb.by_key[ranking[0]["key"]])
    return True


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
        from tickets.model import submit_key
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
        return [
            ActiveLoop(None),
            *clear_form(),
            SlotSet("note", None),
            SlotSet("note_ticket", None),
            SlotSet("answer_sources", []),
        ]
