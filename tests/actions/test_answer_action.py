"""action_answer: answer, clarify, unknown, out of scope, follow-ups and the numbered choices."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answer import ActionAnswer
from knowledge.base import KnowledgeBase
from speech.spoken import speech_payload
from tickets.schema import utcnow
from tickets.store import TicketStore

LoadTracker = Callable[..., Tracker]
Expect = Callable[..., dict[str, Any]]
ReadOut = Callable[[CollectingDispatcher], list[str]]
Buttons = Callable[..., list[dict[str, str]]]

CLARIFY_OPTIONS = ["card-apply", "card-cross-province", "card-home-visit"]
UNKNOWN_QUESTION = "我叫王小明 残疾证被村干部扣着不给 电话13812345678"


def logged(store: TicketStore) -> list[tuple[str, str, str, str]]:
    now = utcnow()
    rows = store.questions.between(now - timedelta(hours=1), now + timedelta(seconds=1))
    return [(q["intent"], q["decision"], q["sources"], q["text"]) for q in rows]


def answer_messages(expect: Expect, kb: KnowledgeBase, key: str, with_detail: bool = False) -> list[dict[str, Any]]:
    """The answer's text and, for a first answer, the custom message with its spoken form."""
    entry = kb.by_key[key]
    text = entry.answer + (f"\n{entry.detail}" if with_detail else "")
    out = [expect("utter_answer", answer=text, cite=entry.cite, next_step=entry.next_step)]
    if not with_detail:
        out.append(expect(None, custom=speech_payload(entry.spoken, [s.cite for s in entry.sources])))
    return out


async def test_answer_from_the_top_ranked_entry(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    kb: KnowledgeBase,
    store: TicketStore,
    expect: Expect,
    read_out: ReadOut,
) -> None:
    tracker = load_tracker("ask_policy_answer")
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    entry = kb.by_key["subsidies-amount"]
    assert events == [
        SlotSet("answer_sources", ["m1.5"]),
        SlotSet("topic", "subsidies-amount"),
        SlotSet("pending", None),
    ]
    assert dispatcher.messages == answer_messages(expect, kb, "subsidies-amount")
    assert read_out(dispatcher)[0] == f"{entry.answer}\n下一步：{entry.next_step}\n来源：{entry.cite}"
    assert dispatcher.messages[1]["custom"]["speech"] == entry.spoken
    assert "以县里当年公布为准" in entry.answer
    assert logged(store) == [("ask_policy", "answer", "m1.5", "重度残疾人护理补贴一个月多少钱")]
    assert kb.by_key["subsidies-amount"].spoken


async def test_answer_skips_ranked_keys_the_knowledge_no_longer_has(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, kb: KnowledgeBase, expect: Expect
) -> None:
    tracker = load_tracker("ask_policy_answer")
    tracker.latest_message["knowledge"]["ranking"].insert(0, {"key": "renamed-entry", "id": "m1.5", "score": 0.9})
    events = await ActionAnswer().run(dispatcher, tracker, domain)
    assert events[:2] == [SlotSet("answer_sources", ["m1.5"]), SlotSet("topic", "subsidies-amount")]
    assert dispatcher.messages == answer_messages(expect, kb, "subsidies-amount")


async def test_clarify_offers_numbered_choices(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    kb: KnowledgeBase,
    store: TicketStore,
    expect: Expect,
    buttons: Buttons,
    read_out: ReadOut,
) -> None:
    tracker = load_tracker("ask_policy_clarify")
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    titles = [kb.by_key[k].title for k in CLARIFY_OPTIONS]
    assert titles == ["残疾人证在哪里办、怎么办", "残疾人证跨省通办", "行动不便的人能不能上门评定、办证"]
    # three options, all three entries under one knowledge ID: the ID once
    assert events == [
        SlotSet("answer_sources", ["m1.5"]),
        SlotSet("topic", CLARIFY_OPTIONS[0]),
        SlotSet(
            "pending",
            {"type": "clarify", "options": CLARIFY_OPTIONS, "ids": ["m1.5"], "question": "残疾证在外地怎么办"},
        ),
    ]
    options = f"1 {titles[0]}\n2 {titles[1]}\n3 {titles[2]}\n4 都不是"
    assert dispatcher.messages == [expect("utter_clarify", buttons=buttons(4), options=options)]
    assert read_out(dispatcher) == [f"您想问的是哪一个？\n{options}\n回复数字就行。"]
    assert logged(store) == [("ask_policy", "clarify", "m1.5", "残疾证在外地怎么办")]


async def test_unknown_offers_staff_and_keeps_the_question(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    store: TicketStore,
    expect: Expect,
    buttons: Buttons,
) -> None:
    tracker = load_tracker("ask_policy_unknown")
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    assert events == [
        SlotSet("answer_sources", []),
        SlotSet("pending", {"type": "offer_staff", "question": UNKNOWN_QUESTION}),
    ]
    assert dispatcher.messages == [expect("utter_unknown", buttons=buttons(2))]
    # the staff report keeps the question without the name and the phone number
    assert logged(store) == [("ask_policy", "unknown", "", "我叫〔姓名〕 残疾证被村干部扣着不给 电话〔号码〕")]


async def test_out_of_scope(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    tracker = load_tracker("out_of_scope")
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    assert events == [SlotSet("answer_sources", []), SlotSet("pending", None)]
    assert dispatcher.messages == [expect("utter_out_of_scope")]
    assert logged(store) == [("out_of_scope", "out_of_scope", "", "高龄津贴怎么领")]


async def test_a_followup_is_answered_as_read_with_the_topic(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    kb: KnowledgeBase,
    store: TicketStore,
    expect: Expect,
) -> None:
    """The understanding step ranked "那要带什么材料" with the topic (two subsidies): the
    subsidies' materials, not the card's, come first and are answered."""
    tracker = load_tracker("followup_materials")
    assert tracker.get_slot("topic") == "two-subsidies"
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    entry = kb.by_key["subsidies-materials"]
    assert events == [
        SlotSet("answer_sources", [entry.id]),
        SlotSet("topic", "subsidies-materials"),
        SlotSet("pending", None),
    ]
    assert dispatcher.messages == answer_messages(expect, kb, "subsidies-materials")
    assert logged(store) == [("ask_policy", "answer", "m1.5", "那要带什么材料")]


async def test_a_followup_about_the_topic_itself_gives_the_detail(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, kb: KnowledgeBase, expect: Expect
) -> None:
    tracker = load_tracker("followup_materials", text="具体说说")
    tracker.latest_message["knowledge"]["ranking"].insert(0, {"key": "two-subsidies", "id": "m1.5", "score": 0.7})
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    assert kb.by_key["two-subsidies"].detail
    assert events == [SlotSet("answer_sources", ["m1.5"]), SlotSet("topic", "two-subsidies"), SlotSet("pending", None)]
    assert dispatcher.messages == answer_messages(expect, kb, "two-subsidies", with_detail=True)


async def test_an_answer_outlives_a_menu_for_one_side_question(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict
) -> None:
    menu = {"type": "clarify", "options": CLARIFY_OPTIONS, "ids": ["m1.5"], "question": "残疾证在外地怎么办"}
    events = await ActionAnswer().run(dispatcher, load_tracker("ask_policy_answer", pending=menu), domain)
    assert events[-1] == SlotSet("pending", {**menu, "side": True})
    dispatcher = CollectingDispatcher()
    side = {**menu, "side": True}
    events = await ActionAnswer().run(dispatcher, load_tracker("ask_policy_answer", pending=side), domain)
    assert events[-1] == SlotSet("pending", None)  # a second side question ends it


async def test_choosing_a_digit_after_clarify_answers_that_option(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, kb: KnowledgeBase, expect: Expect
) -> None:
    tracker = load_tracker("choose_after_clarify")
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    assert events == [
        SlotSet("answer_sources", ["m1.5"]),
        SlotSet("topic", "card-cross-province"),
        SlotSet("pending", None),
    ]
    assert dispatcher.messages == answer_messages(expect, kb, "card-cross-province")


async def test_choosing_in_words_or_full_width(
    load_tracker: LoadTracker, domain: DomainDict, kb: KnowledgeBase, expect: Expect
) -> None:
    for text, key in (("第三个", "card-home-visit"), ("１", "card-apply"), ("选2", "card-cross-province")):
        dispatcher = CollectingDispatcher()
        tracker = load_tracker("choose_after_clarify", text=text, intent="choose")
        events = await ActionAnswer().run(dispatcher, tracker, domain)
        assert events == [
            SlotSet("answer_sources", [kb.by_key[key].id]),
            SlotSet("topic", key),
            SlotSet("pending", None),
        ], text
        assert dispatcher.messages == answer_messages(expect, kb, key), text


async def test_choosing_none_of_them(
    load_tracker: LoadTracker, domain: DomainDict, expect: Expect, buttons: Buttons
) -> None:
    for text, intent in (("4", "choose"), ("都不是", "deny")):
        dispatcher = CollectingDispatcher()
        tracker = load_tracker("choose_after_clarify", text=text, intent=intent)
        tracker.slots["pending"] = {**tracker.slots["pending"], "question": "残疾证在外地怎么办"}
        events = await ActionAnswer().run(dispatcher, tracker, domain)

        # the same honest offer of a person as "I don't know", with the question kept
        assert events == [
            SlotSet("answer_sources", []),
            SlotSet("pending", {"type": "offer_staff", "question": "残疾证在外地怎么办"}),
        ], text
        assert dispatcher.messages == [expect("utter_clarify_none", buttons=buttons(2))], text


async def test_choosing_a_number_that_was_not_offered(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, expect: Expect
) -> None:
    tracker = load_tracker("choose_after_clarify", text="9")
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    assert events == [SlotSet("answer_sources", []), SlotSet("pending", None)]
    assert dispatcher.messages == [expect("utter_choice_expired")]


async def test_a_digit_with_nothing_pending(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    tracker = load_tracker("choose_nothing_pending")
    events = await ActionAnswer().run(dispatcher, tracker, domain)

    assert events == [SlotSet("answer_sources", [])]
    assert dispatcher.messages == [expect("utter_choice_expired")]
    assert logged(store) == []


async def test_accepting_the_staff_offer_starts_the_help_form_with_the_question(
    load_tracker: LoadTracker, domain: DomainDict
) -> None:
    for text, intent in (("好的", "affirm"), ("1", "choose")):
        dispatcher = CollectingDispatcher()
        tracker = load_tracker("offer_staff_affirm", text=text, intent=intent)
        events = await ActionAnswer().run(dispatcher, tracker, domain)

        assert events == [
            SlotSet("answer_sources", []),
            SlotSet("pending", None),
            SlotSet("description", UNKNOWN_QUESTION),
            FollowupAction("action_start_help"),
        ], text
        assert dispatcher.messages == [], text


async def test_declining_the_staff_offer(load_tracker: LoadTracker, domain: DomainDict, expect: Expect) -> None:
    for text, intent in (("不用了", "deny"), ("2", "choose")):
        dispatcher = CollectingDispatcher()
        tracker = load_tracker("offer_staff_deny", text=text, intent=intent)
        events = await ActionAnswer().run(dispatcher, tracker, domain)

        assert events == [SlotSet("answer_sources", []), SlotSet("pending", None)], text
        assert dispatcher.messages == [expect("utter_offer_declined")], text
