"""How tickets read for staff, in the Telegram group and in `python -m tickets.cli`.

Plain text only (say() sentences from domain.yml); no Telegram imports, so the CLI can
use it without python-telegram-bot.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from common.texts import responses, say
from tickets.phone import reachable_in_chat
from tickets.schema import to_local
from tickets.store import Ticket, TicketStore


def local_time(moment: datetime) -> str:
    """A stored (UTC, naive) time in China time: 11-29 09:05."""
    return to_local(moment).strftime("%m-%d %H:%M")


def state_word(state: str) -> str:
    return say(f"utter_word_state_{state}")


def or_missing(value: str | None) -> str:
    return value if value else say("utter_staff_missing")


def phone_line(ticket: Ticket) -> str:
    """The phone, or, when none was left, whether staff can still reach the person in the chat."""
    if ticket.phone:
        return ticket.phone
    return say("utter_staff_phone_in_chat") if reachable_in_chat(ticket.sender_id) else say("utter_staff_missing")


def waiting_word(ticket: Ticket) -> str:
    """Whose turn it is, for staff ("" for a new ticket or when nobody is waited on)."""
    if ticket.state in ("new", "closed") or not ticket.waiting_on:
        return ""
    return say(f"utter_word_waiting_{ticket.waiting_on}")


def card_text(ticket: Ticket) -> str:
    """The staff card of a ticket as it is now."""
    claimed = say("utter_staff_claimed_by", staff=ticket.claimed_by_name) if ticket.claimed_by_name else ""
    waiting = waiting_word(ticket)
    if waiting:
        claimed = f"{claimed}\n{say('utter_staff_card_waiting', waiting=waiting)}".strip()
    mark = say("utter_staff_urgent_mark") if ticket.urgent else ""
    return (
        mark
        + say(
            "utter_staff_card",
            ticket=ticket.number,
            state=state_word(ticket.state),
            category=or_missing(ticket.category),
            township=or_missing(ticket.township),
            contact_name=or_missing(ticket.contact_name),
            phone=phone_line(ticket),
            description=or_missing(ticket.description),
            created=local_time(ticket.created_at),
            claimed=claimed,
        ).strip()
    )


def open_list(store: TicketStore) -> str:
    """The tickets that are not closed, one line each."""
    tickets = store.open_tickets()
    if not tickets:
        return say("utter_staff_none_open")
    lines = [
        say(
            "utter_staff_open_line",
            ticket=t.number,
            state=state_word(t.state),
            category=or_missing(t.category),
            township=or_missing(t.township),
            created=local_time(t.created_at),
            waiting=f" ｜{waiting_word(t)}" if waiting_word(t) else "",
        )
        for t in tickets
    ]
    counts = store.counts()
    count = counts["new"] + counts["claimed"] + counts["answered"]
    return say("utter_staff_open_list", count=count, lines="\n".join(lines))


def _names(rows: Sequence[dict[str, Any]]) -> dict[str, str]:
    """Staff ids → the names their events recorded."""
    names: dict[str, str] = {}
    for row in rows:
        detail = json.loads(row["detail"]) if row.get("detail") else {}
        if isinstance(detail, dict) and detail.get("name"):
            names[row["actor"]] = str(detail["name"])
    return names


def message_line(ticket: Ticket, row: dict[str, Any], names: dict[str, str]) -> str:
    """One message of a ticket's conversation: when, who, and what (text, voice or photo)."""
    when = local_time(row["at"])
    if row["from_staff"]:
        who = say("utter_staff_who_staff", staff=names.get(row["author"], row["author"]))
    else:
        who = say("utter_staff_who_resident")
    kind = row.get("kind") or "text"
    if kind == "text":
        return say("utter_staff_history_message", when=when, who=who, text=row["text"])
    caption = say("utter_staff_history_caption", text=row["text"]) if row["text"] else ""
    return say(f"utter_staff_history_{kind}", when=when, who=who, caption=caption)


def history_lines(ticket: Ticket, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Events and messages of a ticket as plain lines with times, oldest first."""
    names = _names(rows)

    def who(actor: str) -> str:
        if actor == "system":
            return say("utter_staff_who_system")
        if actor == ticket.sender_id:
            return say("utter_staff_who_resident")
        return say("utter_staff_who_staff", staff=names.get(actor, actor))

    known = responses()
    lines = []
    for row in rows:
        if row["action"] == "message":
            lines.append(message_line(ticket, row, names))
        else:
            name = f"utter_staff_event_{row['action']}"
            what = say(name) if name in known else row["action"]
            lines.append(say("utter_staff_history_event", when=local_time(row["at"]), who=who(row["actor"]), what=what))
    return lines


def history_text(store: TicketStore, number: str, with_messages: bool = True) -> str:
    """One ticket's audit trail, and its messages unless `with_messages` is False
    (raises TicketError for an unknown number)."""
    ticket = store.get(number)
    rows = [r for r in store.history(number) if with_messages or r["action"] != "message"]
    return say("utter_staff_history", ticket=number, lines="\n".join(history_lines(ticket, rows)))


def ticket_text(store: TicketStore, number: str) -> str:
    """What staff read about one ticket: its conversation, then its audit trail."""
    return f"{conversation_text(store, number)}\n\n{history_text(store, number, with_messages=False)}"


def conversation_text(store: TicketStore, number: str) -> str:
    """What the resident and staff said on a ticket, oldest first (raises TicketError)."""
    ticket = store.get(number)
    names = _names(store.history(number))
    lines = [message_line(ticket, row, names) for row in store.messages(number)]
    if not lines:
        return say("utter_staff_conversation_empty", ticket=number)
    return say("utter_staff_conversation", ticket=number, lines="\n".join(lines))


def claim(store: TicketStore, number: str, actor: str, name: str) -> tuple[str, bool]:
    """认领: (what to tell the staff member, whether it is a refusal)."""
    if store.claim(number, actor, name):
        return say("utter_staff_claimed_ok", ticket=number), False
    ticket = store.get(number)
    if ticket.state == "closed":
        return say("utter_staff_already_closed", ticket=number), True
    if ticket.claimed_by == actor:
        return say("utter_staff_claimed_ok", ticket=number), False
    return say("utter_staff_claim_lost", staff=ticket.claimed_by_name or ""), True


def close(store: TicketStore, number: str, actor: str, name: str) -> tuple[str, bool]:
    """已解决: (what to tell the staff member, whether it is a refusal)."""
    if store.close(number, actor, name):
        return say("utter_staff_closed_ok", ticket=number), False
    return say("utter_staff_already_closed", ticket=number), True


def reopen(store: TicketStore, number: str, actor: str) -> str:
    done = store.reopen(number, actor)
    return say("utter_staff_reopened" if done else "utter_staff_not_closed", ticket=number)
