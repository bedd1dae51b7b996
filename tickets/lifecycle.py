"""A ticket's life: create, claim, answer, close, reopen — each change with its audit event.

States: new → claimed → answered → closed, and closed → reopened (= new again). Beside the
state, `waiting_on` says whose turn it is: "staff" (a new ticket, or the resident added
something), "resident" (staff asked a question), "" (staff answered, nothing asked).
A ticket's conversation is its `ticket_messages`: staff replies and questions, and what the
resident added (text, voice or a photo; `via` says how: VIA). Every change
writes a `ticket_events` row (who, when, what) in the same transaction, and every message
to staff or resident is an `outbox` row in that transaction too, so nothing is promised
that is not stored. Concurrent claims: one conditional UPDATE, so exactly one wins.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError

from common import faults
from tickets.audit import record
from tickets.fields import MAX_TEXT, asks_back
from tickets.numbers import new_number
from tickets.outbox import OutboxKind, enqueue
from tickets.schema import outbox, ticket_events, ticket_messages, tickets, utcnow

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


def _change_if(conn: Connection, ticket_id: int, condition: Any, **values: Any) -> bool:
    """One conditional UPDATE of a ticket; True when this caller changed it (of concurrent
    callers exactly one wins: the database applies the condition and the change at once)."""
    result = conn.execute(
        update(tickets).where(and_(tickets.c.id == ticket_id, condition)).values(updated_at=utcnow(), **values)
    )
    return result.rowcount == 1


class Lifecycle:
    """The ticket operations over one database (tickets.store.TicketStore adds the rest).

    A submit can later carry an idempotency key: `create` is the one place a ticket is
    inserted, in one transaction with its event and its card.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def _get(self, conn: Connection, number: str) -> Ticket:
        row = conn.execute(select(tickets).where(tickets.c.number == number)).first()
        if row is None:
            raise TicketError(f"no ticket {number}")
        return Ticket.from_row(row)

    # -- residents ---------------------------------------------------------------------------
    def create(
        self,
        sender_id: str,
        contact_name: str,
        phone: str,
        township: str,
        category: str,
        description: str,
        audio_file: str | None = None,
        urgent: bool = False,
        *,
        key: str | None = None,
        tell_resident: bool = False,
    ) -> Ticket:
        """Store a new ticket and queue its card for staff, in one transaction.

        `urgent`: a person in danger; the card says 紧急 and staff are reminded sooner.
        `key`: the submit's idempotency key (tickets.lifecycle.submit_key): a second create
        with the same key stores nothing and returns the first ticket, so a submit retried
        after a crash, a timeout or a lost reply never files a request twice.
        `tell_resident`: the ticket number also goes to the resident through the outbox
        (queued with the ticket, so a Telegram error never leaves them untold); on a retry
        it is queued again unless one is still waiting.

        A database that cannot be reached for a moment (PostgreSQL restarting) is waited
        for and tried again for up to DB_RETRY_SECONDS; with a key that is safe even when
        the first commit did land.
        """
        return self.create_once(
            sender_id,
            contact_name,
            phone,
            township,
            category,
            description,
            audio_file,
            urgent,
            key=key,
            tell_resident=tell_resident,
        )[0]

    def create_once(
        self,
        sender_id: str,
        contact_name: str,
        phone: str,
        township: str,
        category: str,
        description: str,
        audio_file: str | None = None,
        urgent: bool = False,
        *,
        key: str | None = None,
        tell_resident: bool = False,
    ) -> tuple[Ticket, bool]:
        """`create`, and whether this call stored the ticket (False: it existed under `key`)."""
        values = {
            "sender_id": fit(tickets.c.sender_id, sender_id),
            "contact_name": fit(tickets.c.contact_name, contact_name),
            "phone": fit(tickets.c.phone, phone),
            "township": fit(tickets.c.township, township),
            "category": fit(tickets.c.category, category),
            "description": description[:MAX_TEXT],
            "audio_file": audio_file,
            "urgent": urgent,
            "submit_key": key,
        }
        return retry_transient(lambda: self._create(values, tell_resident))

    def _create(self, values: dict[str, Any], tell_resident: bool) -> tuple[Ticket, bool]:
        key = values["submit_key"]
        for _ in range(10):
            if key is not None and (found := self._by_key(key)) is not None:
                return self._again(found, tell_resident), False
            number = new_number()
            now = utcnow()
            try:
                with self.engine.begin() as conn:
                    result = conn.execute(
                        insert(tickets).values(
                            number=number,
                            state="new",
                            created_at=now,
                            updated_at=now,
                            last_notified_at=now,
                            **values,
                            waiting_on="staff",
                        )
                    )
                    tid = result.inserted_primary_key[0]
                    category, township = values["category"], values["township"]
                    flags = {"urgent": True} if values["urgent"] else {}
                    record(conn, tid, values["sender_id"], "created", category=category, township=township, **flags)
                    enqueue(conn, OutboxKind.STAFF_CARD, tid)
                    if tell_resident:
                        enqueue(conn, OutboxKind.RESIDENT_TICKET_CREATED, tid)
                    ticket = self._get(conn, number)
                faults.point("after_ticket_commit")
                return ticket, True
            except IntegrityError:
                if key is not None and self._by_key(key) is not None:
                    continue  # a concurrent submit with the same key won: return its ticket
                if not self._number_taken(number):
                    raise
                continue  # the random number was taken: draw again
        raise TicketError("could not allocate a ticket number")

    def _by_key(self, key: str) -> Ticket | None:
        with self.engine.connect() as conn:
            row = conn.execute(select(tickets).where(tickets.c.submit_key == key)).first()
            return Ticket.from_row(row) if row else None

    def _again(self, ticket: Ticket, tell_resident: bool) -> Ticket:
        """A retried submit: record it, and queue the number again unless it is still on its way."""
        with self.engine.begin() as conn:
            record(conn, ticket.id, ticket.sender_id, "submit_retried")
            if tell_resident:
                waiting = conn.execute(
                    select(func.count())
                    .select_from(outbox)
                    .where(
                        and_(
                            outbox.c.ticket_id == ticket.id,
                            outbox.c.kind == OutboxKind.RESIDENT_TICKET_CREATED.value,
                            outbox.c.delivered_at.is_(None),
                        )
                    )
                ).scalar_one()
                if not waiting:
                    enqueue(conn, OutboxKind.RESIDENT_TICKET_CREATED, ticket.id)
        return ticket

    def _number_taken(self, number: str) -> bool:
        with self.engine.connect() as conn:
            return conn.execute(select(tickets.c.id).where(tickets.c.number == number)).first() is not None

    def for_sender(self, sender_id: str, limit: int = 5) -> list[Ticket]:
        """The sender's own most recent tickets (a resident sees only these)."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tickets)
                .where(tickets.c.sender_id == sender_id)
                .order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
                .limit(limit)
            )
            return [Ticket.from_row(r) for r in rows]

    def find_for_sender(self, number: str, sender_id: str) -> Ticket | None:
        """The ticket `number` if it belongs to `sender_id`, else None (never reveals others)."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tickets).where(and_(tickets.c.number == number, tickets.c.sender_id == sender_id))
            ).first()
            return Ticket.from_row(row) if row else None

    def open_for_sender(self, sender_id: str, limit: int = 5) -> list[Ticket]:
        """The sender's tickets that are not closed, most recent first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(tickets)
                .where(and_(tickets.c.sender_id == sender_id, tickets.c.state != "closed"))
                .order_by(tickets.c.created_at.desc(), tickets.c.id.desc())
                .limit(limit)
            )
            return [Ticket.from_row(r) for r in rows]

    def add_resident_message(
        self,
        number: str,
        sender_id: str,
        text: str,
        *,
        kind: str = "text",
        file_id: str | None = None,
        via: str = "note",
        urgent: bool = False,
    ) -> Ticket:
        """A resident adds to their own open ticket (text, or a voice message or photo with
        `file_id` and its caption as `text`); it is staff's turn, and staff are told as a
        reply to the card. `urgent` (danger words in it) marks the ticket urgent too."""
        if kind not in MESSAGE_KINDS or via not in VIA:
            raise TicketError(f"unknown message kind {kind!r} or way {via!r}")
        text = text[:MAX_TEXT]
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            if ticket.sender_id != sender_id:
                raise TicketError("not the sender's ticket")
            if ticket.state == "closed":
                raise TicketError("ticket is closed")
            now = utcnow()
            conn.execute(
                insert(ticket_messages).values(
                    ticket_id=ticket.id,
                    at=now,
                    author=sender_id,
                    from_staff=False,
                    text=text,
                    kind=kind,
                    file_id=file_id,
                    via=via,
                )
            )
            values: dict[str, Any] = {"waiting_on": "staff", "updated_at": now}
            if urgent:
                values["urgent"] = True
            conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(**values))
            flags = {"urgent": True} if urgent else {}
            record(conn, ticket.id, sender_id, "resident_note", via=via, kind=kind, **flags)
            payload: dict[str, Any] = {"text": text, "media": kind, "via": via, "at": now.isoformat()}
            if file_id:
                payload["file_id"] = file_id
            if urgent:
                payload["urgent"] = True
            enqueue(conn, OutboxKind.STAFF_NOTE, ticket.id, **payload)
            if urgent and not ticket.urgent:
                enqueue(conn, OutboxKind.STAFF_CARD_UPDATE, ticket.id)
            return self._get(conn, number)

    # -- staff ----------------------------------------------------------------------------
    def get(self, number: str) -> Ticket:
        with self.engine.connect() as conn:
            return self._get(conn, number)

    def get_by_id(self, ticket_id: int) -> Ticket:
        with self.engine.connect() as conn:
            row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
            if row is None:
                raise TicketError(f"no ticket id {ticket_id}")
            return Ticket.from_row(row)

    def claim(self, number: str, staff_id: str, staff_name: str) -> bool:
        """Claim a new ticket; True for the one caller that wins."""
        staff_name = fit(tickets.c.claimed_by_name, staff_name)
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            won = _change_if(
                conn,
                ticket.id,
                tickets.c.state == "new",
                state="claimed",
                claimed_by=staff_id,
                claimed_by_name=staff_name,
            )
            if won:
                record(conn, ticket.id, staff_id, "claimed", name=staff_name)
                enqueue(conn, OutboxKind.STAFF_CARD_UPDATE, ticket.id)
            return won

    def reply(self, number: str, staff_id: str, staff_name: str, text: str, question: bool | None = None) -> Ticket:
        """A staff reply: recorded, queued for the resident; claims the ticket if new.

        A question (`question`, or by default a reply ending in ？ / ?) makes it the
        resident's turn: their next message goes back to the card."""
        if question is None:
            question = asks_back(text)
        text = text[:MAX_TEXT]
        staff_name = fit(tickets.c.claimed_by_name, staff_name)
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            if ticket.state == "closed":
                raise TicketError("ticket is closed")
            now = utcnow()
            values: dict[str, Any] = {
                "state": "answered",
                "updated_at": now,
                "waiting_on": "resident" if question else "",
            }
            if not ticket.claimed_by:
                values |= {"claimed_by": staff_id, "claimed_by_name": staff_name}
            conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(**values))
            conn.execute(
                insert(ticket_messages).values(
                    ticket_id=ticket.id, at=now, author=staff_id, from_staff=True, text=text, kind="text", via=""
                )
            )
            record(conn, ticket.id, staff_id, "asked" if question else "replied", name=staff_name)
            enqueue(conn, OutboxKind.RESIDENT_MESSAGE, ticket.id, text=text, question=question)
            enqueue(conn, OutboxKind.STAFF_CARD_UPDATE, ticket.id)
            return self._get(conn, number)

    def close(self, number: str, staff_id: str, staff_name: str) -> bool:
        """Close (已解决); False when it was already closed."""
        staff_name = fit(tickets.c.claimed_by_name, staff_name)
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            done = _change_if(
                conn,
                ticket.id,
                tickets.c.state != "closed",
                state="closed",
                waiting_on="",
                claimed_by=ticket.claimed_by or staff_id,
                claimed_by_name=ticket.claimed_by_name or staff_name,
            )
            if done:
                record(conn, ticket.id, staff_id, "closed", name=staff_name)
                enqueue(conn, OutboxKind.RESIDENT_CLOSED, ticket.id)
                enqueue(conn, OutboxKind.STAFF_CARD_UPDATE, ticket.id)
            return done

    def reopen(self, number: str, actor: str) -> bool:
        """Reopen a closed ticket (back to new, unclaimed)."""
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            done = _change_if(
                conn,
                ticket.id,
                tickets.c.state == "closed",
                state="new",
                waiting_on="staff",
                claimed_by=None,
                claimed_by_name=None,
                last_notified_at=utcnow(),
            )
            if done:
                record(conn, ticket.id, actor, "reopened")
                enqueue(conn, OutboxKind.STAFF_CARD, ticket.id)
            return done

    def open_tickets(self, limit: int = 30) -> list[Ticket]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tickets).where(tickets.c.state != "closed").order_by(tickets.c.id).limit(limit))
            return [Ticket.from_row(r) for r in rows]

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as conn:
            rows = conn.execute(select(tickets.c.state, func.count()).group_by(tickets.c.state))
            found = {state: n for state, n in rows}
        return {state: found.get(state, 0) for state in STATES}

    def history(self, number: str) -> list[dict[str, Any]]:
        """The audit trail and messages of a ticket, oldest first."""
        with self.engine.connect() as conn:
            ticket = self._get(conn, number)
            events = conn.execute(
                select(ticket_events).where(ticket_events.c.ticket_id == ticket.id).order_by(ticket_events.c.id)
            )
            out = [dict(r._mapping) for r in events]
            messages = conn.execute(
                select(ticket_messages).where(ticket_messages.c.ticket_id == ticket.id).order_by(ticket_messages.c.id)
            )
            texts = [dict(r._mapping) for r in messages]
        return sorted(out + [{**m, "action": "message"} for m in texts], key=lambda r: (r["at"], r["id"]))

    def messages(self, number: str) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            ticket = self._get(conn, number)
            rows = conn.execute(
                select(ticket_messages).where(ticket_messages.c.ticket_id == ticket.id).order_by(ticket_messages.c.id)
            )
            return [dict(r._mapping) for r in rows]

    def renotify_due(self, minutes: int, urgent_minutes: int | None = None) -> list[Ticket]:
        """New tickets nobody claimed for `minutes` (urgent ones: `urgent_minutes`): queue a reminder."""
        now = utcnow()
        cutoff = now - timedelta(minutes=minutes)
        urgent_cutoff = now - timedelta(minutes=urgent_minutes if urgent_minutes is not None else minutes)
        last = tickets.c.last_notified_at
        out = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(tickets).where(
                    and_(
                        tickets.c.state == "new",
                        or_(
                            last.is_(None),
                            last <= cutoff,
                            and_(tickets.c.urgent.is_(True), last <= urgent_cutoff),
                        ),
                    )
                )
            ).all()
            for row in rows:
                ticket = Ticket.from_row(row)
                # conditional: of two bridges checking at once, one queues the reminder
                same = last.is_(None) if row.last_notified_at is None else last == row.last_notified_at
                won = conn.execute(
                    update(tickets).where(and_(tickets.c.id == ticket.id, same)).values(last_notified_at=now)
                )
                if won.rowcount != 1:
                    continue
                window = urgent_minutes if ticket.urgent and urgent_minutes is not None else minutes
                enqueue(conn, OutboxKind.STAFF_RENOTIFY, ticket.id, minutes=window)
                out.append(ticket)
        return out
