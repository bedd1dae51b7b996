"""What residents add to their open requests through Rasa (REST channel, terminal chat and
Telegram alike): "我还要补充…" with one and with two open tickets, choosing by digit, a second
"转人工" with a request open, and the help form's slips (tg: senders may leave out the phone)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.answer import ActionAnswer
from actions.help_form import ActionAskConfirm, ActionAskPhone, ActionStartHelp, ValidateHelpForm
from actions.status import ActionStartNote, ActionTicketStatus
from knowledge.base import KnowledgeBase
from tests.actions.conftest import tracker_state, with_message
from tickets.fields import MAX_TEXT
from tickets.store import Ticket, TicketStore

Expect = Callable[..., dict[str, Any]]
ReadOut = Callable[[CollectingDispatcher], list[str]]
Buttons = Callable[..., list[dict[str, str]]]

SENDER = "100200320"  # the sender of the saved ticket_status tracker (a REST / terminal sender)
TG = "tg:880:880"


def tracker(
    name: str, text: str | None = None, intent: str | None = None, sender: str = SENDER, **slots: Any
) -> Tracker:
    state = tracker_state(name)
    state["sender_id"] = sender
    if text is not None:
        state = with_message(state, text, intent)
    state["slots"].update(slots)
    return Tracker.from_dict(state)


def open_ticket(store: TicketStore, sender: str = SENDER, category: str = "补贴") -> Ticket:
    return store.create(sender, "王阿姨", "13812345678", "吉潭镇", category, "护理补贴三个月没发了")


def resident_texts(store: TicketStore, ticket: Ticket) -> list[tuple[str, str]]:
    return [(m["text"], m["via"]) for m in store.messages(ticket.number) if not m["from_staff"]]


async def run(action: Any, t: Tracker, domain: DomainDict) -> tuple[list, CollectingDispatcher]:
    dispatcher = CollectingDispatcher()
    return await action.run(dispatcher, t, domain), dispatcher


# -- "我还要补充…" ------------------------------------------------------------------------------------


async def test_an_addition_with_its_content_goes_straight_onto_the_one_open_ticket(
    domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    ticket = open_ticket(store)
    other = open_ticket(store, sender="100200999")
    events, d = await run(
        ActionStartNote(), tracker("ticket_status", "我还要补充：他的银行卡换过了", "add_to_ticket"), domain
    )
    assert d.messages == [expect("utter_note_added", ticket=ticket.number)]
    assert SlotSet("pending", None) in events
    assert resident_texts(store, ticket) == [("他的银行卡换过了", "note")]
    assert store.messages(other.number) == []
    assert store.get(ticket.number).waiting_on == "staff"
    assert [r.kind for r in store.outbox.due() if r.ticket_id == ticket.id] == ["staff_card", "staff_note"]


async def test_with_two_open_tickets_the_resident_chooses_by_digit(
    domain: DomainDict, store: TicketStore, expect: Expect, buttons: Buttons, read_out: ReadOut
) -> None:
    first = open_ticket(store, category="补贴")
    second = open_ticket(store, category="残疾人证")
    events, d = await run(
        ActionStartNote(), tracker("ticket_status", "这句话也告诉工作人员：下午我不在家", "add_to_ticket"), domain
    )
    (asked,) = read_out(d)
    assert asked.startswith("您有2个求助在处理中，补充到哪一个？\n1 补充到求助 " + second.number + "（残疾人证，")
    assert f"\n2 补充到求助 {first.number}（补贴，" in asked
    assert d.messages[0]["buttons"] == buttons(2)
    pending = {"type": "which_ticket", "tickets": [second.number, first.number], "note": "下午我不在家"}
    assert SlotSet("pending", pending) in events
    assert store.messages(first.number) == store.messages(second.number) == []  # nothing yet

    events, d = await run(ActionAnswer(), tracker("ticket_status", "二", "choose", pending=pending), domain)
    assert d.messages == [expect("utter_note_added", ticket=first.number)]
    assert SlotSet("pending", None) in events
    assert resident_texts(store, first) == [("下午我不在家", "note")]
    assert store.messages(second.number) == []

    _, d = await run(ActionAnswer(), tracker("ticket_status", "不用了", "deny", pending=pending), domain)
    assert d.messages == [expect("utter_note_not_added")]
    _, d = await run(ActionAnswer(), tracker("ticket_status", "5", "choose", pending=pending), domain)
    assert d.messages == [expect("utter_choice_expired")]
    assert len(store.messages(first.number)) == 1 and store.messages(second.number) == []


async def test_a_bare_addition_asks_for_it_then_which_ticket(
    domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    from actions.status import ActionSubmitNote

    first, second = open_ticket(store), open_ticket(store)
    events, d = await run(ActionStartNote(), tracker("ticket_status", "补充一下", "add_to_ticket"), domain)
    assert events[-1] == FollowupAction("note_form") and SlotSet("note_ticket", None) in events
    assert d.messages == []
    events, d = await run(ActionSubmitNote(), tracker("add_note"), domain)
    assert d.messages[0]["response"] == "utter_note_which"
    pending = next(e["value"] for e in events if e.get("name") == "pending")
    assert pending["tickets"] == [second.number, first.number] and pending["note"] == "村里说 还要一张医院的证明"


async def test_a_ticket_named_in_the_addition_is_used_if_it_is_the_residents(
    domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    mine, also_mine = open_ticket(store), open_ticket(store)
    theirs = open_ticket(store, sender="100200999")
    _, d = await run(
        ActionStartNote(),
        tracker("ticket_status", f"{mine.number} 补充一下 补贴卡的户名是我老婆", "add_to_ticket"),
        domain,
    )
    assert d.messages == [expect("utter_note_added", ticket=mine.number)]
    assert resident_texts(store, mine) == [("补贴卡的户名是我老婆", "note")] and store.messages(also_mine.number) == []

    _, d = await run(
        ActionStartNote(), tracker("ticket_status", f"{theirs.number} 补充：我是他邻居", "add_to_ticket"), domain
    )
    assert d.messages == [expect("utter_note_not_found", ticket=theirs.number)]
    assert store.messages(theirs.number) == []

    store.close(mine.number, "staff-7", "李干事")
    _, d = await run(
        ActionStartNote(), tracker("ticket_status", f"{mine.number} 补充：还有一件事", "add_to_ticket"), domain
    )
    assert d.messages == [expect("utter_note_ticket_closed", ticket=mine.number)]
    assert len(store.messages(mine.number)) == 1


async def test_a_20000_character_addition_is_cut_and_the_resident_told(
    domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    ticket = open_ticket(store)
    _, d = await run(
        ActionStartNote(), tracker("ticket_status", "我还要补充：" + "很长" * 10_000, "add_to_ticket"), domain
    )
    assert d.messages == [
        expect("utter_note_trimmed", limit=MAX_TEXT),
        expect("utter_note_added", ticket=ticket.number),
    ]
    assert len(store.messages(ticket.number)[0]["text"]) == MAX_TEXT


async def test_status_shows_a_staff_question(domain: DomainDict, store: TicketStore, read_out: ReadOut) -> None:
    ticket = open_ticket(store)
    store.reply(ticket.number, "staff-7", "李干事", "您家住在几楼？")
    _, d = await run(ActionTicketStatus(), tracker("ticket_status"), domain)
    assert "工作人员问您：您家住在几楼？" in read_out(d)[0]


# -- a second 转人工 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "intent"), [("转人工", "human"), ("我的轮椅也坏了 帮我修一下", "request_help")])
async def test_a_new_request_with_one_open_asks_first(
    domain: DomainDict, store: TicketStore, expect: Expect, buttons: Buttons, read_out: ReadOut, text: str, intent: str
) -> None:
    ticket = open_ticket(store)
    events, d = await run(ActionStartHelp(), tracker("request_help", text, intent), domain)
    assert d.messages == [expect("utter_open_ticket", buttons=buttons(2), ticket=ticket.number)]
    assert read_out(d) == [f"您已经有一个求助 {ticket.number} 在处理中。\n1 补充到这个求助\n2 新的求助"]
    described = text if intent == "request_help" else ""
    assert events == [
        SlotSet("pending", {"type": "open_ticket", "tickets": [ticket.number], "text": described}),
        SlotSet("answer_sources", []),
        FollowupAction("action_listen"),  # not the form: the resident answers first
    ]


async def test_one_adds_what_they_said_or_asks_for_it_two_starts_the_form(
    domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    ticket = open_ticket(store)
    said = {"type": "open_ticket", "tickets": [ticket.number], "text": "我的轮椅也坏了 帮我修一下"}
    bare = {**said, "text": ""}

    _, d = await run(ActionAnswer(), tracker("ticket_status", "1", "choose", pending=said), domain)
    assert d.messages == [expect("utter_note_added", ticket=ticket.number)]
    assert resident_texts(store, ticket) == [("我的轮椅也坏了 帮我修一下", "note")]

    events, d = await run(ActionAnswer(), tracker("ticket_status", "一", "choose", pending=bare), domain)
    assert events[-1] == FollowupAction("note_form") and SlotSet("note_ticket", ticket.number) in events

    events, d = await run(ActionAnswer(), tracker("ticket_status", "2", "choose", pending=said), domain)
    assert events[-2:] == [SlotSet("description", "我的轮椅也坏了 帮我修一下"), FollowupAction("action_start_help")]
    assert len(store.for_sender(SENDER)) == 1  # the form runs next; nothing stored yet

    # and the form then starts without asking again (the message was the digit)
    events, d = await run(ActionStartHelp(), tracker("request_help", "2", "choose"), domain)
    assert d.messages == [expect("utter_help_intro")] and FollowupAction("action_listen") not in events


async def test_with_two_open_the_new_request_is_the_last_option(
    domain: DomainDict, store: TicketStore, read_out: ReadOut
) -> None:
    first, second = open_ticket(store), open_ticket(store)
    _, d = await run(ActionStartHelp(), tracker("request_help", "转人工", "human"), domain)
    (asked,) = read_out(d)
    assert asked.startswith("您已经有2个求助在处理中。\n1 补充到求助 " + second.number)
    assert f"\n2 补充到求助 {first.number}" in asked and "\n3 新的求助\n" in asked


async def test_closed_tickets_do_not_count(domain: DomainDict, store: TicketStore, expect: Expect) -> None:
    ticket = open_ticket(store)
    store.close(ticket.number, "staff-7", "李干事")
    _, d = await run(ActionStartHelp(), tracker("request_help", "转人工", "human"), domain)
    assert d.messages == [expect("utter_help_intro")]


# -- the form for elderly people ------------------------------------------------------------------


async def validate(domain: DomainDict, step: str, text: str, sender: str = SENDER, **parse: Any) -> tuple[list, list]:
    t = tracker(f"help_form_{step}", text, sender=sender)
    if parse:
        t.latest_message.update(parse)
    events, d = await run(ValidateHelpForm(), t, domain)
    return events, d.messages


@pytest.mark.parametrize("typed", ["一三九一二三四五六七八", "幺三八 幺二三四 五六七八", "我电话13870001234"])
async def test_phones_as_people_say_them(domain: DomainDict, typed: str) -> None:
    events, messages = await validate(domain, "phone", typed)
    assert events[0]["value"] in ("13912345678", "13812345678", "13870001234") and messages == []


async def test_on_telegram_the_phone_may_be_left_out(
    domain: DomainDict, expect: Expect, buttons: Buttons, read_out: ReadOut
) -> None:
    _, d = await run(ActionAskPhone(), tracker("help_form_phone", sender=TG), domain)
    assert d.messages == [expect("utter_ask_phone_chat")]
    _, d = await run(ActionAskPhone(), tracker("help_form_phone"), domain)
    assert d.messages == [expect("utter_ask_phone")]
    for typed in ("0", "零", "没有电话", "不想留", "冇电话 你在这里回我就行", "不方便留 有事在这里讲"):
        assert await validate(domain, "phone", typed, sender=TG) == ([SlotSet("phone", "")], [])
    # elsewhere (REST, the terminal chat) staff could not reach the person: a phone is needed, and said so
    for typed in ("0", "冇电话 你在这里回我就行"):
        assert await validate(domain, "phone", typed) == ([SlotSet("phone", None)], [expect("utter_phone_needed")])
    assert await validate(domain, "phone", "139") == ([SlotSet("phone", None)], [expect("utter_invalid_phone")])
    assert await validate(domain, "phone", "123", sender=TG) == (
        [SlotSet("phone", None)],
        [expect("utter_invalid_phone_chat")],
    )
    _, d = await run(ActionAskConfirm(), tracker("help_form_confirm", sender=TG, phone=""), domain)
    assert "2 电话：不留（工作人员在这里回复您）" in read_out(d)[0]


@pytest.mark.parametrize(
    "typed",
    ["0", "零", "〇", "好", "对", "提交", "好的 提交", "好的，提交", "冇错 提交", "都对", "確認，謝謝", "好的 麻烦了"],
)
async def test_every_yes_submits(domain: DomainDict, typed: str) -> None:
    assert await validate(domain, "confirm", typed) == ([SlotSet("confirm", "yes")], [])


@pytest.mark.parametrize("typed", ["对 就是这样", "好的", "嗯"])
async def test_a_yes_is_not_a_description(domain: DomainDict, expect: Expect, typed: str) -> None:
    assert await validate(domain, "description", typed) == (
        [SlotSet("description", None)],
        [expect("utter_invalid_description")],
    )


async def test_thanks_alone_does_not_submit(domain: DomainDict, expect: Expect) -> None:
    assert await validate(domain, "confirm", "谢谢") == ([SlotSet("confirm", None)], [expect("utter_invalid_confirm")])


def name_step(text: str, knowledge: dict[str, Any] | None = None) -> Tracker:
    """The saved phone-step tracker turned into the name step, the resident typing `text`."""
    state = tracker_state("help_form_phone")
    state["slots"].update(contact_name=None, phone=None, requested_slot="contact_name")
    for event in state["events"]:
        if event["event"] == "slot" and event["name"] == "phone":
            event["name"] = "contact_name"
        elif event["event"] == "slot" and event["name"] == "requested_slot":
            event["value"] = "contact_name"
    state = with_message(state, text)
    if knowledge:
        state["latest_message"]["knowledge"] = knowledge
    return Tracker.from_dict(state)


async def test_a_question_given_as_the_name_is_answered_and_the_name_asked_again(
    domain: DomainDict, expect: Expect, kb: KnowledgeBase, read_out: ReadOut
) -> None:
    known = {"decision": "answer", "ranking": [{"key": "nursing-subsidy", "id": "m1.5"}]}
    events, d = await run(ValidateHelpForm(), name_step("护理补贴怎么申请？", known), domain)
    assert SlotSet("contact_name", None) in events
    # the answer, its spoken form (a custom message, no response), then the name asked again
    assert [m["response"] for m in d.messages] == ["utter_answer", None, "utter_name_is_question"]
    assert kb.by_key["nursing-subsidy"].answer in read_out(d)[0]

    events, d = await run(ValidateHelpForm(), name_step("你们是哪里的"), domain)  # nothing known: asked again
    assert SlotSet("contact_name", None) in events and d.messages == [expect("utter_name_is_question")]

    events, d = await run(ValidateHelpForm(), name_step("我叫王秀英"), domain)
    assert SlotSet("contact_name", "王秀英") in events and d.messages == []


async def test_a_question_as_the_description_is_kept_and_answered_when_known(
    domain: DomainDict, kb: KnowledgeBase
) -> None:
    known = {"decision": "answer", "ranking": [{"key": "subsidies-amount", "id": "m1.5"}]}
    events, messages = await validate(domain, "description", "补贴一个月多少钱？", knowledge=known)
    assert events == [SlotSet("description", "补贴一个月多少钱？")]
    assert [m["response"] for m in messages] == ["utter_answer", None, "utter_form_goes_on"]
