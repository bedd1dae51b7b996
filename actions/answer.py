"""Policy answers: built from a knowledge entry, said with its next step and its source.

The understanding step (knowledge/understanding.py, through knowledge/nlu.py) has read the
message in the light of the conversation and decided what to do; this action carries it
out: answer (the answer, the next step, the source; and, for the ear, the entry's spoken
text as a custom message the bridge speaks), offer numbered options (only IDs that are
plausible readings), or say honestly that it does not know and offer a person. "都不是" and
"I don't know" end in the same offer, and 1 / 对 / 好 / 一 accepts it. A menu survives one
side question. Every reply sets `answer_sources` to the knowledge IDs it used, best first.
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
from knowledge.cues import MISSED
from tickets.fields import MAX_TEXT

logger = logging.getLogger(__name__)

# Other places of Ganzhou and nearby provinces a resident may ask about: the knowledge covers 寻乌.
ELSEWHERE = re.compile(
    r"会昌|安远|定南|龙南|全南|信丰|大余|上犹|崇义|兴国|于都|宁都|石城|瑞金|南康|赣县|章贡|"
    r"广东|福建|深圳|东莞|广州|梅州|平远|龙川|武平|上海|浙江"
)


def digit_buttons(n: int, start: int = 1) -> list[dict[str, str]]:
    """Reply-keyboard buttons "1".."n" (the bridge shows them as a digit keyboard)."""
    return [{"title": str(i), "payload": str(i)} for i in range(start, start + n)]


def log_question(tracker: Tracker, decision: str, sources: list[str], entry: str = "", text: str | None = None) -> None:
    """One row of the staff report (tickets/questions.py anonymises it); never breaks a reply."""
    try:
        from tickets.store import default_store

        intent = (tracker.latest_message.get("intent") or {}).get("name") or ""
        asked = tracker.latest_message.get("text") or "" if text is None else text
        default_store().questions.log(intent, decision, sources, asked, entry=entry)
    except Exception:  # a report row must never break an answer
        logger.exception("could not log the question for the staff report")


def say_entry(dispatcher: CollectingDispatcher, entry: Entry, with_detail: bool = False) -> None:
    """The answer, the next step and the source; then, for a first answer, its spoken form."""
    from speech.spoken import speech_payload

    answer = entry.answer + (f"\n{entry.detail}" if with_detail and entry.detail else "")
    dispatcher.utter_message(response="utter_answer", answer=answer, cite=entry.cite, next_step=entry.next_step)
    if not with_detail and entry.spoken:
        dispatcher.utter_message(json_message=speech_payload(entry.spoken, [s.cite for s in entry.sources]))


def offer_person(dispatcher: CollectingDispatcher, response: str, question: str) -> list[EventType]:
    """ "I don't know" / "none of these": the honest offer of a person (1 or 对 accepts)."""
    dispatcher.utter_message(response=response, buttons=digit_buttons(2))
    return [SlotSet("pending", {"type": "offer_staff", "question": question[:MAX_TEXT]})]


def _previous_question(tracker: Tracker) -> str | None:
    """The resident's message before this one (what the last answer answered)."""
    texts = [e.get("text") for e in tracker.events if e.get("event") == "user" and e.get("text")]
    return texts[-2] if len(texts) >= 2 else None


def _surviving_menu(pending: Any) -> dict | None:
    """A menu outlives one side question: the options stay answerable for one more turn."""
    if isinstance(pending, dict) and pending.get("type") == "clarify" and not pending.get("side"):
        return {**pending, "side": True}
    return None


class ActionAnswer(Action):
    """Answers ask_policy / choose / affirm / deny / out_of_scope from the reading."""

    def name(self) -> str:
        return "action_answer"

    async def run(self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]) -> list[EventType]:
        kb = load()
        message = tracker.latest_message
        intent = (message.get("intent") or {}).get("name")
        text = message.get("text") or ""
        pending = tracker.get_slot("pending")
        reading = message.get("knowledge") or {}

        if intent in ("choose", "affirm", "deny"):
            if isinstance(pending, dict) and pending.get("type"):
                return self._resolve_pending(dispatcher, tracker, pending, intent, text)
            if intent == "deny" and MISSED.search(text) and tracker.get_slot("topic"):
                # "冇一个对的" right after an answer: it missed; offer a person for the question
                question = _previous_question(tracker) or text
                log_question(tracker, "none_fits", list(tracker.get_slot("answer_sources") or []), text=question)
                return [SlotSet("answer_sources", []), *offer_person(dispatcher, "utter_answer_missed", question)]
            dispatcher.utter_message(response="utter_choice_expired" if intent == "choose" else "utter_offer_declined")
            return [SlotSet("answer_sources", [])]

        if ELSEWHERE.search(text) and intent != "out_of_scope":
            dispatcher.utter_message(response="utter_only_xunwu")
        decision = reading.get("decision") or ("out_of_scope" if intent == "out_of_scope" else "unknown")
        ranking = [r for r in reading.get("ranking", []) if r.get("key") in kb.by_key]
        if decision == "answer" and ranking:
            entry = kb.by_key[ranking[0]["key"]]
            say_entry(dispatcher, entry, with_detail=entry.key == tracker.get_slot("topic") and reading.get("followup"))
            log_question(tracker, "answer", [entry.id], entry.key)
            return [
                SlotSet("answer_sources", [entry.id]),
                SlotSet("topic", entry.key),
                SlotSet("pending", _surviving_menu(pending)),
            ]
        options = [k for k in reading.get("options", []) if k in kb.by_key]
        if decision == "clarify" and len(options) >= 2:
            entries = [kb.by_key[k] for k in options]
            dispatcher.utter_message(
                response="utter_clarify",
                options=numbered([e.title for e in entries]) + f"\n{len(entries) + 1} 都不是",
                buttons=digit_buttons(len(entries) + 1),
            )
            ids = list(dict.fromkeys(e.id for e in entries))
            log_question(tracker, "clarify", ids)
            # A follow-up instead of a digit ("要去哪里申请") is taken as about the first option.
            return [
                SlotSet("answer_sources", ids),
                SlotSet("topic", options[0]),
                SlotSet("pending", {"type": "clarify", "options": options, "ids": ids, "question": text[:MAX_TEXT]}),
            ]
        if decision == "out_of_scope" or intent == "out_of_scope":
            dispatcher.utter_message(response="utter_out_of_scope")
            log_question(tracker, "out_of_scope", [])
            return [SlotSet("answer_sources", []), SlotSet("pending", _surviving_menu(pending))]
        log_question(tracker, "unknown", [])
        return [SlotSet("answer_sources", []), *offer_person(dispatcher, "utter_unknown", text)]

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
            if intent == "deny" or choice == 2:
                dispatcher.utter_message(response="utter_offer_declined")
                return [SlotSet("answer_sources", []), SlotSet("pending", None)]
            dispatcher.utter_message(response="utter_reply_one_or_two", buttons=digit_buttons(2))
            return [SlotSet("answer_sources", [])]
        options = [k for k in pending.get("options", []) if k in kb.by_key]
        if choice is not None and 1 <= choice <= len(options):
            entry = kb.by_key[options[choice - 1]]
            say_entry(dispatcher, entry)
            return [SlotSet("answer_sources", [entry.id]), SlotSet("topic", entry.key), SlotSet("pending", None)]
        if choice == len(options) + 1 or intent == "deny":
            question = str(pending.get("question") or text)
            log_question(tracker, "none_fits", list(pending.get("ids") or []), text=question)
            return [SlotSet("answer_sources", []), *offer_person(dispatcher, "utter_clarify_none", question)]
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
