"""A resident's own help requests: status lines, someone else's number, notes, voice on/off."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from rasa_sdk import Tracker
from rasa_sdk.events import FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import update

from actions.status import ActionStartNote, ActionSubmitNote, ActionTicketStatus
from actions.voice import ActionVoice
from common.texts import say
from tickets.schema import tickets
from tickets.store import Ticket, TicketStore

LoadTracker = Callable[..., Tracker]
Expect = Callable[..., dict[str, Any]]
ReadOut = Callable[[CollectingDispatcher], list[str]]

SENDER = "100200320"  # the sender of the saved ticket_status and add_note trackers
OTHER = "100200999"


def open_ticket(store: TicketStore, sender_id: str = SENDER, description: str = "护理补贴三个月没发了") -> Ticket:
    return store.create(sender_id, "王阿姨", "13812345678", "吉潭镇", "补贴", description)


def set_created(store: TicketStore, ticket: Ticket, when: datetime) -> None:
    with store.engine.begin() as conn:
        conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(created_at=when))


def line(expect: Expect, ticket: Ticket, state: str, when: str, reply: str = "") -> dict[str, Any]:
    return expect(
        "utter_ticket_line", ticket=ticket.number, state=say(f"utter_word_state_{state}"), when=when, reply=reply
    )


async def test_no_tickets_yet(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    open_ticket(store, sender_id=OTHER)
    events = await ActionTicketStatus().run(dispatcher, load_tracker("ticket_status"), domain)
    assert events == [SlotSet("answer_sources", [])]
    assert dispatcher.messages == [expect("utter_no_tickets")]


async def test_status_lists_only_the_senders_own_tickets(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    store: TicketStore,
    expect: Expect,
    read_out: ReadOut,
) -> None:
    first = open_ticket(store, description="残疾证过期了要换")
    second = open_ticket(store)
    others = open_ticket(store, sender_id=OTHER)
    set_created(store, first, datetime(2024, 3, 1, 2, 0))
    set_created(store, second, datetime(2024, 3, 5, 2, 0))
    store.reply(second.number, "staff-7", "李干事", "已经联系吉潭镇，下周给您答复。")

    events = await ActionTicketStatus().run(dispatcher, load_tracker("ticket_status"), domain)

    assert events == [SlotSet("answer_sources", [])]
    assert dispatcher.messages == [
        line(expect, second, "answered", "3月5日", "最新回复：已经联系吉潭镇，下周给您答复。"),
        line(expect, first, "new", "3月1日"),
    ]
    assert not any(others.number in text for text in read_out(dispatcher))


async def test_the_date_is_the_local_date_in_xunwu(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    # 23:30 UTC on 1 March is 07:30 on 2 March in Xunwu (China Standard Time, UTC+8).
    ticket = open_ticket(store)
    set_created(store, ticket, datetime(2024, 3, 1, 23, 30))
    await ActionTicketStatus().run(dispatcher, load_tracker("ticket_status"), domain)
    assert dispatcher.messages == [line(expect, ticket, "new", "3月2日")]


@pytest.mark.parametrize("template", ["{number} 怎么样了", "查一下{lower}", "{full_width}进度"])
async def test_asking_about_one_of_ones_own_tickets(
    load_tracker: LoadTracker, domain: DomainDict, store: TicketStore, expect: Expect, template: str
) -> None:
    asked, other_own = open_ticket(store), open_ticket(store)
    number = asked.number
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number)
    text = template.format(number=number, lower=number.lower().replace("-", " "), full_width=full_width)

    dispatcher = CollectingDispatcher()
    await ActionTicketStatus().run(dispatcher, load_tracker("ticket_status", text=text), domain)
    shown = [m["ticket"] for m in dispatcher.messages]
    assert shown == [number], text
    assert other_own.number not in shown


async def test_someone_elses_number_is_not_revealed(
    load_tracker: LoadTracker,
    dispatcher: CollectingDispatcher,
    domain: DomainDict,
    store: TicketStore,
    expect: Expect,
    read_out: ReadOut,
) -> None:
    mine = open_ticket(store)
    theirs = open_ticket(store, sender_id=OTHER, description="别人的事")
    store.reply(theirs.number, "staff-7", "李干事", "给别人的回复")

    tracker = load_tracker("ticket_status", text=f"{theirs.number} 怎么样了")
    events = await ActionTicketStatus().run(dispatcher, tracker, domain)

    assert events == [SlotSet("answer_sources", [])]
    assert dispatcher.messages[0] == expect("utter_ticket_not_found")
    assert [m["ticket"] for m in dispatcher.messages[1:]] == [mine.number]
    said = "\n".join(read_out(dispatcher))
    assert theirs.number not in said
    assert "给别人的回复" not in said


# -- notes ------------------------------------------------------------------------------------------


async def test_start_note_needs_an_open_ticket(
    load_tracker: LoadTracker, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    dispatcher = CollectingDispatcher()
    note = load_tracker("ticket_status", text="我还要补充", intent="add_to_ticket")
    events = await ActionStartNote().run(dispatcher, note, domain)
    assert events == [SlotSet("answer_sources", []), FollowupAction("action_listen")]
    assert dispatcher.messages == [expect("utter_note_no_ticket")]

    ticket = open_ticket(store)
    dispatcher = CollectingDispatcher()
    events = await ActionStartNote().run(dispatcher, note, domain)
    assert events == [
        SlotSet("note", None),
        SlotSet("note_ticket", ticket.number),
        SlotSet("answer_sources", []),
        FollowupAction("note_form"),
    ]
    assert dispatcher.messages == []


async def test_submit_note_adds_to_the_senders_open_ticket(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    closed = open_ticket(store, description="早就解决了")
    store.close(closed.number, "staff-7", "李干事")
    ticket = open_ticket(store)
    theirs = open_ticket(store, sender_id=OTHER)

    events = await ActionSubmitNote().run(dispatcher, load_tracker("add_note"), domain)

    assert events[:2] == [SlotSet("note", None), SlotSet("note_ticket", None)]
    assert SlotSet("pending", None) in events
    assert dispatcher.messages == [expect("utter_note_added", ticket=ticket.number)]
    assert [(m["author"], m["from_staff"], m["text"]) for m in store.messages(ticket.number)] == [
        (SENDER, False, "村里说 还要一张医院的证明")
    ]
    assert store.messages(closed.number) == []
    assert store.messages(theirs.number) == []
    kinds = [d.kind for d in store.outbox.due() if d.ticket_id == ticket.id]
    assert kinds == ["staff_card", "staff_note"]


async def test_submit_note_without_an_open_ticket_stores_nothing(
    load_tracker: LoadTracker, dispatcher: CollectingDispatcher, domain: DomainDict, store: TicketStore, expect: Expect
) -> None:
    closed = open_ticket(store)
    store.close(closed.number, "staff-7", "李干事")
    open_ticket(store, sender_id=OTHER)

    events = await ActionSubmitNote().run(dispatcher, load_tracker("add_note"), domain)

    assert events == [SlotSet("note", None), SlotSet("note_ticket", None)]
    assert dispatcher.messages == [expect("utter_note_no_ticket")]
    assert store.messages(closed.number) == []


# -- voice ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "intent", "on"), [("念给我听", "voice_on", True), ("别念了", "voice_off", False)])
async def test_voice_on_and_off(
    load_tracker: LoadTracker, domain: DomainDict, expect: Expect, text: str, intent: str, on: bool
) -> None:
    dispatcher = CollectingDispatcher()
    events = await ActionVoice().run(dispatcher, load_tracker("ticket_status", text=text, intent=intent), domain)
    assert events == [SlotSet("voice", on), SlotSet("answer_sources", [])]
    assert dispatcher.messages == [
        expect("utter_voice_on" if on else "utter_voice_off"),
        expect(None, custom={"voice": on}),
    ]
