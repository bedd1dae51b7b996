"""What a ticket is, and the small helpers every ticket operation shares.

The states, message kinds and ways (`VIA`), the `Ticket` row as a value, `TicketError`,
the submit's idempotency key, cutting a value to its column, retrying while the database
is briefly unreachable, reading a ticket by number and the conditional UPDATE a claim,
close or reopen wins with.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import and_, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import InterfaceError, OperationalError

from tickets.schema import tickets, utcnow

STATES = ("new", "claimed", "answered", "closed")
# How a resident's message reached a ticket: "我还要补充…" (note), a Telegram reply to a
# message about the ticket (reply), the answer to a staff question (answer), accepted when
# offered after a staff reply (offer), said right after the urgent reply (urgent).
VIA = ("note", "reply", "answer", "offer", "urgent")
MESSAGE_KINDS = ("text", "voice", "photo")
WAITING = ("staff", "resident", "")
log = logging.getLogger(__name__)


class TicketError(Exception):
    """An operation that is not allowed (unknown ticket, wrong state)."""


def submit_key(sender_id: str, run: str) -> str:
    """The idempotency key of one submit: the sender and what identifies the form run."""
    return hashlib.sha256(f"{sender_id}\x1f{run}".encode()).hexdigest()[:64]


def fit(column: Any, value: str | None) -> Any:
    """`value` cut to the column's length (what Telegram sends can be longer than a form's field)."""
    length = getattr(column.type, "length", None)
    return value[:length] if isinstance(value, str) and length else value


T = TypeVar("T")
# Errors of a database that is restarting or unreachable for a moment.
TRANSIENT = (OperationalError, InterfaceError)


def retry_transient(work: Callable[[], T], seconds: float | None = None) -> T:
    """Run `work`, trying again while the database is briefly unreachable (DB_RETRY_SECONDS)."""
    if seconds is None:
        from common.config import settings

        seconds = settings().db_retry_seconds
    deadline = time.monotonic() + seconds
    delay = 0.2
    while True:
        try:
            return work()
        except TRANSIENT as exc:
            if time.monotonic() + delay > deadline:
                raise
            log.warning("database unreachable (%s); trying again in %.1f s", type(exc).__name__, delay)
            time.sleep(delay)
            delay = min(delay * 2, 2.0)


@dataclass(frozen=True)
class Ticket:
    id: int
    number: str
    sender_id: str
    contact_name: str
    phone: str
    township: str
    category: str
    description: str
    state: str
    claimed_by: str | None
    claimed_by_name: str | None
    audio_file: str | None
    created_at: datetime
    updated_at: datetime
    urgent: bool = False
    waiting_on: str = "staff"

    @property
    def is_open(self) -> bool:
        return self.state != "closed"

    @classmethod
    def from_row(cls, row: Any) -> Ticket:
        m = row._mapping
        return cls(**{k: m[k] for k in cls.__dataclass_fields__})


def by_number(conn: Connection, number: str) -> Ticket:
    """The ticket `number` (TicketError when there is none)."""
    row = conn.execute(select(tickets).where(tickets.c.number == number)).first()
    if row is None:
        raise TicketError(f"no ticket {number}")
    return Ticket.from_row(row)


def change_if(conn: Connection, ticket_id: int, condition: Any, **values: Any) -> bool:
    """One conditional UPDATE of a ticket; True when this caller changed it (of concurrent
    callers exactly one wins: the database applies the condition and the change at once)."""
    result = conn.execute(
        update(tickets).where(and_(tickets.c.id == ticket_id, condition)).values(updated_at=utcnow(), **values)
    )
    return result.rowcount == 1
