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
from tickets.schema import to_local
from tickets.store import Ticket, TicketStore


def local_time(moment: datetime) -> str:
    """A stored (UTC, naive) time in China time: 11-29 09:05."""
    return to_local(moment).strftime("%m-%d %H:%M")


def state_word(state: str) -> str:
    return say(f"utter_word_state_{state}")


def or_missing(value: str | None) -> str:
    return value if value else say("utter_staff_missing")


def card_text(ticket: Ticket) -> str:
    """The staff card of a ticket as it is now."""
    claimed = say("utter_staff_claimed_by", staff=ticket.claimed_by_name) if ticket.claimed_by_name else ""
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
            phone=or_missing(ticket.phone),
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
        )
        for t in tickets
    ]
    counts = store.counts()
    count = counts["new"] + counts["claimed"] + counts["answered"]
    return say("utter_staff_open_list", count=count, lines="\n".join(lines))


def history_lines(ticket: Ticket, rows: Sequence[dict[str, Any]]) -> list[str]:
    """Events and messages of a ticket as plain lines with times, oldest first."""
    names: dict[str, str] = {}
    for row in rows:
        detail = json.loads(row["detail"]) if row.get("detail") else {}
        if isinstance(detail, dict) and detail.get("name"):
            names[row["actor"]] = str(detail["name"])

    def who(actor: str) -> str:
        if actor == "system":
            return say("utter_staff_who_system")
        if actor == ticket.sender_id:
            return say("utter_staff_who_resident")
        return say("utter_staff_who_staff", staff=names.get(actor, actor))

    known = responses()
    lines = []
    for row in rows:
        when = local_time(row["at"])
        if row["action"] == "message":
            author = who(row["author"]) if row["from_staff"] else say("utter_staff_who_resident")
            lines.append(say("utter_staff_history_message", when=when, who=author, text=row["text"]))
        else:
            name = f"utter_staff_event_{row['action']}"
            what = say(name) if name in known else row["action"]
            lines.append(say("utter_staff_history_event", when=when, who=who(row["actor"]), what=what))
    return lines


def history_text(store: TicketStore, number: str) -> str:
    """One ticket's audit trail and messages (raises TicketError for an unknown number)."""
    ticket = store.get(number)
    return say("utter_staff_history", ticket=number, lines="\n".join(history_lines(ticket, store.history(number))))


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
