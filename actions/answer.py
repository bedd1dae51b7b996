"""Policy answers: built from a knowledge entry, said with its source and the next step.

The NLU (knowledge/nlu.py) has already ranked the entries and decided what to do; this
action carries it out: answer, offer numbered choices, follow a follow-up question on the
topic just answered, or say honestly that it does not know and offer staff. Every reply
sets `answer_sources` to the knowledge IDs it used, best first.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.pending import HANDLERS
from common.choices import digit_choice, numbered
from knowledge.base import Entry, load
from knowledge.lexical import LexicalIndex
from tickets.fields import MAX_TEXT

logger = logging.getLogger(__name__)

CLARIFY_OPTIONS = 3


def digit_buttons(n: int, start: int = 1) -> list[dict[str, str]]:
    """Reply-keyboard buttons "1".."n" (the bridge shows them as a digit keyboard)."""
    return [{"title": str(i), "payload": str(i)} for i in range(start, start + n)]


def anonymise(text: str) -> str:
    """Question text for reports: no phone, ID or other long numbers, no self-given names."""
    text = re.sub(r"\d[\d\s\-]{5,}\d", "〔号码〕", text)
    return re.sub(r"(我叫|我是|名字叫)[\u4e00-\u9fff]{1,3}", r"\1〔姓名〕", text)


def _log_question(tracker: Tracker, decision: str, sources: list[str]) -> None:
    try:
        from tickets.store import default_store

        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        default_store().questions.log(intent, decision, sources, anonymise(tracker.latest_message.get("text") or ""))
    except Exception:  # a report row must never break an answer
        logger.exception("could not log the question for the staff report")


def say_entry(dispatcher: CollectingDispatcher, entry: Entry, with_detail: bool = False) -> None:
    answer = entry.answer + (f"\n{entry.detail}" if with_detail and entry.detail else "")
    dispatcher.utter_message(response="utter_answer", answer=answer, cite=entry.cite, next_step=entry.next_step)


def answered(entry: Entry) -> list[EventType]:
    return [SlotSet("answer_sources", [entry.id]), SlotSet("topic", entry.key), SlotSet("pending", None)]


# A follow-up whose words match no family entry this well ("还有呢", "详细一点") asks for more
# about the topic itself.
FOLLOWUP_MIN_COVERAGE = 0.5


def best_in_family(text: str, family: list[Entry]) -> Entry:
    """The family entry whose examples cover the follow-up's words best; the topic itself
    (family[0]) when none covers them well."""
    index = LexicalIndex([[e.title, *e.examples] for e in family])
    scores = index.scores(text)
    best = max(range(len(family)), key=lambda i: (scores[i], -i))
    return family[best] if scores[best] >= FOLLOWUP_MIN_COVERAGE else family[0]


class ActionAnswer(Action):
    """Answers ask_policy / ask_followup / choose / affirm / deny from the knowledge."""

    def name(self) -> str:
        return "action_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        kb = load()
        message = tracker.latest_message
        intent = (message.get("intent") or {}).get("name")
        text = message.get("text") or ""
        pending = tracker.get_slot("pending")
        knowledge = message.get("knowledge") or {}

        if intent in ("choose", "affirm", "deny"):
            if pending:
                return self._resolve_pending(dispatcher, tracker, pending, intent, text)
            dispatcher.utter_message(response="utter_choice_expired")
            return [SlotSet("answer_sources", [])]

        if intent == "ask_followup":
            topic = tracker.get_slot("topic")
            if topic in kb.by_key:
                entry = best_in_family(text, kb.topic_family(kb.by_key[topic]))
                say_entry(dispatcher, entry, with_detail=entry.key == topic)
                _log_question(tracker, "followup", [entry.id])
                return answered(entry)
            if knowledge.get("decision") != "answer":
                dispatcher.utter_message(response="utter_followup_no_topic")
                return [SlotSet("answer_sources", [])]

        decision = knowledge.get("decision", "unknown")
        ranking = [r for r in knowledge.get("ranking", []) if r.get("key") in kb.by_key]
        if decision == "answer" and ranking:
            entry = kb.by_key[ranking[0]["key"]]
            say_entry(dispatcher, entry)
            _log_question(tracker, "answer", [entry.id])
            return answered(entry)
        if decision == "clarify" and len(ranking) >= 2:
            options = list(dict.fromkeys(r["key"] for r in ranking))[:CLARIFY_OPTIONS]
            entries = [kb.by_key[k] for k in options]
            dispatcher.utter_message(
                response="utter_clarify",
                options=numbered([e.title for e in entries]) + f"\n{len(entries) + 1} 都不是",
                buttons=digit_buttons(len(entries) + 1),
            )
            ids = list(dict.fromkeys(e.id for e in entries))
            _log_question(tracker, "clarify", ids)
            # A follow-up instead of a digit ("要去哪里申请") is taken as about the first option.
            return [
                SlotSet("answer_sources", ids),
                SlotSet("topic", options[0]),
                SlotSet("pending", {"type": "clarify", "options": options}),
            ]
        if decision == "out_of_scope" or intent == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
            _log_question(tracker, "out_of_scope", [])
            return [SlotSet("answer_sources", []), SlotSet("pending", None)]
        dispatcher.utter_message(response="utter_unknown", buttons=digit_buttons(2))
        _log_question(tracker, "unknown", [])
        return [
            SlotSet("answer_sources", []),
            SlotSet("pending", {"type": "offer_staff", "question": text[:MAX_TEXT]}),
        ]

    def _resolve_pending(
        self,
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        pending: dict[str, Any],
        intent: str,
        text: str,
    ) -> list[EventType]:
        kb = load()
        choice = digit_choice(text)
        handler = HANDLERS.get(str(pending.get("type")))
        if handler is not None:  # a question another module asked (actions/pending.py)
            return handler(dispatcher, tracker, pending, intent, choice)
        if pending.get("type") == "offer_staff":
            if intent == "affirm" or choice == 1:
                return [
                    SlotSet("answer_sources", []),
                    SlotSet("pending", None),
                    SlotSet("description", pending.get("question") or None),
                    FollowupAction("action_start_help"),
                ]
            dispatcher.utter_message(response="utter_offer_declined")
            return [SlotSet("answer_sources", []), SlotSet("pending", None)]
        options = [k for k in pending.get("options", []) if k in kb.by_key]
        if choice is not None and 1 <= choice <= len(options):
            entry = kb.by_key[options[choice - 1]]
            say_entry(dispatcher, entry)
            return answered(entry)
        if choice == len(options) + 1 or intent == "deny":
            dispatcher.utter_message(response="utter_clarify_none")
            return [SlotSet("answer_sources", []), SlotSet("pending", None)]
        dispatcher.utter_message(response="utter_choice_expired")
        return [SlotSet("answer_sources", []), SlotSet("pending", None)]


class ActionSources(Action):
    """ "来源是哪里": every source of the entry just answered, with its address."""

    def name(self) -> str:
        return "action_sources"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        entry = load().by_key.get(tracker.get_slot("topic") or "")
        if entry is None:
            dispatcher.utter_message(response="utter_sources_none")
            return [SlotSet("answer_sources", [])]
        lines = [f"{i} {s.cite}" + (f"\n{s.url}" if s.url else "") for i, s in enumerate(entry.sources, 1)]
        dispatcher.utter_message(response="utter_sources", sources="\n".join(lines))
        return [SlotSet("answer_sources", [entry.id])]
