"""The help-request form: starting it, validating each answer, confirming and storing the ticket."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import ActiveLoop, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from actions.help_form import (
    FORM_SLOTS,
    ActionAskConfirm,
    ActionAskTownship,
    ActionCancelForm,
    ActionStartHelp,
    ActionSubmitHelp,
    ValidateHelpForm,
)
from tickets.fields import CATEGORIES, TOWNSHIPS
from tickets.schema import outbox, ticket_events
from tickets.store import TicketStore

LoadTracker = Callable[..., Tracker]
Expect = Callable[..., dict[str, Any]]
ReadOut = Callable[[CollectingDispatcher], list[str]]
Buttons = Callable[..., list[dict[str, str]]]

CLEARED = [SlotSet(s, None) for s in FORM_SLOTS] + [SlotSet("requested_slot", None)]


async def validate(load_tracker: LoadTracker, domain: DomainDict, step: str, text: str) -> tuple[list, list]:
    """Run validate_help_form on the saved tracker of `step` with the resident typing `text`."""
    dispatcher = CollectingDispatcher()
    tracker = load_tracker(f"help_form_{step}", text=text)
    events = await ValidateHelpForm().run(dispatcher, tracker, domain)
    return events, dispatcher.messages


# -- starting ---------------------------------------------------------------------------------------


async def test_start_help_keeps_a_described_request(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, expect: Expect
) -> None:
    tracker = load_tracker("request_help")
    events = await ActionStartHelp().run(dispatcher, tracker, domain)

    assert events == [
        SlotSet("contact_name", None),
        SlotSet("phone", None),
        SlotSet("township", None),
        SlotSet("category", None),
        SlotSet("confirm", None),
        SlotSet("description", "我的护理补贴三个月没发了 帮我问问"),
        SlotSet("answer_sources", []),
    ]
    assert dispatcher.messages == [expect("utter_help_intro")]


@pytest.mark.parametrize(("text", "intent"), [("我要求助", "request_help"), ("转人工", "human")])
async def test_start_help_asks_for_the_description_of_a_bare_request(
    load_tracker: LoadTracker, domain: DomainDict, text: str, intent: str
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionStartHelp().run(dispatcher, load_tracker("request_help", text=text, intent=intent), domain)
    assert SlotSet("description", None) in events
    assert events[-1] == SlotSet("answer_sources", [])


async def test_start_help_after_an_accepted_offer_keeps_the_question(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict
) -> None:
    tracker = load_tracker("offer_staff_affirm", description="我叫王小明 残疾证被村干部扣着不给 电话13812345678")
    events = await ActionStartHelp().run(dispatcher, tracker, domain)
    assert [e for e in events if e.get("name") == "description"] == []
    assert events[-1] == SlotSet("answer_sources", [])


# -- validation -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("138 1234 5678", "13812345678"),
        ("１３８１２３４５６７８", "13812345678"),
        ("0797-2831234", "0797-2831234"),
        ("+86 13812345678", "13812345678"),
        ("12345", None),
        ("abc", None),
    ],
)
async def test_validate_phone(
    load_tracker: LoadTracker, domain: DomainDict, expect: Expect, typed: str, phone: str | None
) -> None:
    events, messages = await validate(load_tracker, domain, "phone", typed)
    assert events == [SlotSet("phone", phone)]
    assert messages == ([] if phone else [expect("utter_invalid_phone")])


@pytest.mark.parametrize(
    ("typed", "township"),
    [("3", "留车镇"), ("吉潭", "吉潭镇"), ("常宁", "长宁镇"), ("赣州", None), ("99", None)],
)
async def test_validate_township(
    load_tracker: LoadTracker, domain: DomainDict, expect: Expect, typed: str, township: str | None
) -> None:
    events, messages = await validate(load_tracker, domain, "township", typed)
    assert events == [SlotSet("township", township)]
    assert messages == ([] if township else [expect("utter_invalid_township")])


@pytest.mark.parametrize(
    ("typed", "category"),
    [(str(i), name) for i, name in enumerate(CATEGORIES, start=1)] + [("9", None), ("0", None)],
)
async def test_validate_category(
    load_tracker: LoadTracker, domain: DomainDict, expect: Expect, typed: str, category: str | None
) -> None:
    events, messages = await validate(load_tracker, domain, "category", typed)
    assert events == [SlotSet("category", category)]
    assert messages == ([] if category else [expect("utter_invalid_category")])


def test_the_form_lists_eight_categories_and_fifteen_townships() -> None:
    assert len(CATEGORIES) == 8
    assert len(TOWNSHIPS) == len(set(TOWNSHIPS)) == 15


async def test_validate_description_trims_a_very_long_text(
    load_tracker: LoadTracker, domain: DomainDict, expect: Expect, read_out: ReadOut
) -> None:
    text = "护理补贴三个月没发了" * 1000
    dispatcher = CollectingDispatcher()
    events = await ValidateHelpForm().run(dispatcher, load_tracker("help_form_description", text=text), domain)

    assert len(text) == 10_000
    assert events == [SlotSet("description", text[:500])]
    assert dispatcher.messages == [expect("utter_description_trimmed", limit=500)]
    assert read_out(dispatcher) == ["您说的内容比较长，我记下了前500个字。工作人员联系您时可以再细说。"]


@pytest.mark.parametrize(
    ("typed", "description"),
    [
        ("1", None),
        ("好", None),
        ("护理补贴三个月没发了", "护理补贴三个月没发了"),
        ("护理补贴   三个月\n没发了", "护理补贴 三个月 没发了"),
    ],
)
async def test_validate_description(
    load_tracker: LoadTracker, domain: DomainDict, expect: Expect, typed: str, description: str | None
) -> None:
    events, messages = await validate(load_tracker, domain, "description", typed)
    assert events == [SlotSet("description", description)]
    assert messages == ([] if description else [expect("utter_invalid_description")])


@pytest.mark.parametrize("typed", ["0", "确认", "０"])
async def test_validate_confirm_yes(load_tracker: LoadTracker, domain: DomainDict, typed: str) -> None:
    events, messages = await validate(load_tracker, domain, "confirm", typed)
    assert events == [SlotSet("confirm", "yes")]
    assert messages == []


async def test_validate_confirm_a_digit_re_asks_that_field(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict
) -> None:
    tracker = load_tracker("help_form_confirm", text="3")
    events = await ValidateHelpForm().run(dispatcher, tracker, domain)

    assert events == [SlotSet("confirm", None), SlotSet("township", None)]
    assert dispatcher.messages == []
    # The form asks for the first required slot that is empty: the township, then confirm again.
    required = domain["forms"]["help_form"]["required_slots"]
    missing = [s for s in required if tracker.get_slot(s) is None]
    assert missing == ["township", "confirm"]
    assert tracker.get_slot("phone") == "13812345678"


async def test_validate_confirm_anything_else(load_tracker: LoadTracker, domain: DomainDict, expect: Expect) -> None:
    events, messages = await validate(load_tracker, domain, "confirm", "hello")
    assert events == [SlotSet("confirm", None)]
    assert messages == [expect("utter_invalid_confirm")]


# -- questions with choices ---------------------------------------------------------------------------


async def test_ask_township_lists_fifteen_numbered_townships(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, expect: Expect, buttons: Buttons
) -> None:
    events = await ActionAskTownship().run(dispatcher, load_tracker("help_form_township"), domain)
    assert events == []
    options = "\n".join(f"{i} {name}" for i, name in enumerate(TOWNSHIPS, start=1))
    assert dispatcher.messages == [expect("utter_ask_township", buttons=buttons(15), options=options)]


async def test_ask_confirm_shows_what_will_be_sent(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    expect: Expect,
    buttons: Buttons,
    read_out: ReadOut,
) -> None:
    await ActionAskConfirm().run(dispatcher, load_tracker("help_form_confirm"), domain)
    values = {
        "contact_name": "王阿姨",
        "phone": "13812345678",
        "township": "留车镇",
        "category": "补贴",
        "description": "护理补贴三个月没发了",
    }
    assert dispatcher.messages == [expect("utter_ask_confirm", buttons=buttons(6, start=0), **values)]
    assert "3 乡镇：留车镇\n4 方面：补贴\n5 事情：护理补贴三个月没发了" in read_out(dispatcher)[0]


# -- submit / cancel ----------------------------------------------------------------------------------


async def test_submit_stores_the_ticket_and_tells_its_number(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    store: TicketStore,
    expect: Expect,
    read_out: ReadOut,
) -> None:
    events = await ActionSubmitHelp().run(dispatcher, load_tracker("submit_help"), domain)

    assert events == CLEARED
    [ticket] = store.for_sender("100200310")
    assert (ticket.contact_name, ticket.phone, ticket.township, ticket.category, ticket.description) == (
        "王阿姨",
        "13812345678",
        "留车镇",
        "补贴",
        "护理补贴三个月没发了",
    )
    assert ticket.state == "new"
    assert dispatcher.messages == [
        expect("utter_ticket_created", custom={"ticket": ticket.number}, ticket=ticket.number)
    ]
    assert f"您的求助编号是 {ticket.number}。" in read_out(dispatcher)[0]
    with store.engine.connect() as conn:
        assert [r.kind for r in conn.execute(select(outbox))] == ["staff_card"]
        assert [(r.actor, r.action) for r in conn.execute(select(ticket_events))] == [("100200310", "created")]


@pytest.mark.parametrize("confirm", [None, "0", "no"])
async def test_submit_without_a_yes_stores_nothing(
    load_tracker: LoadTracker, domain: DomainDict, store: TicketStore, expect: Expect, confirm: str | None
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionSubmitHelp().run(dispatcher, load_tracker("submit_help", confirm=confirm), domain)

    assert events == CLEARED
    assert dispatcher.messages == [expect("utter_cancelled")]
    assert store.counts() == {"new": 0, "claimed": 0, "answered": 0, "closed": 0}
    assert store.outbox.pending_count() == 0


async def test_cancel_forgets_everything_typed(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    events = await ActionCancelForm().run(dispatcher, load_tracker("help_form_confirm", text="算了"), domain)
    assert events == [
        ActiveLoop(None),
        *CLEARED,
        SlotSet("note", None),
        SlotSet("note_ticket", None),
        SlotSet("answer_sources", []),
    ]
    assert dispatcher.messages == [expect("utter_cancelled")]
    assert store.counts()["new"] == 0
