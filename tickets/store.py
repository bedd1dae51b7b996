"""Where help requests (tickets) live: create, claim, answer, close, reopen — with an audit trail.

States: new → claimed → answered → closed, and closed → reopened (= new again). Every change
writes a `ticket_events` row (who, when, what) in the same transaction, and every message
to staff or resident is an `outbox` row in that transaction too, so nothing is promised
that is not stored. Concurrent claims: one conditional UPDATE, so exactly one wins.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import IntegrityError

from tickets.schema import (
    make_engine,
    migrate,
    outbox,
    questions,
    staff_cards,
    ticket_events,
    ticket_messages,
    tickets,
    utcnow,
)

# Ticket numbers: "XW-" and five symbols without look-alikes (no 0/O, 1/I/L).
ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
NUMBER_LEN = 5
STATES = ("new", "claimed", "answered", "closed")
MAX_DESCRIPTION = 500


class TicketError(Exception):
    """An operation that is not allowed (unknown ticket, wrong state)."""


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

    @classmethod
    def from_row(cls, row: Any) -> Ticket:
        m = row._mapping
        return cls(**{k: m[k] for k in cls.__dataclass_fields__})


def new_number() -> str:
    return "XW-" + "".join(secrets.choice(ALPHABET) for _ in range(NUMBER_LEN))


def normalise_number(text: str) -> str:
    """`xw 7k3p9` / `XW-7K3P9` / `7k3p9` → `XW-7K3P9` (empty when it is not one)."""
    raw = "".join(ch for ch in text.upper() if ch.isalnum())
    raw = raw.removeprefix("XW")
    if len(raw) == NUMBER_LEN and all(ch in ALPHABET for ch in raw):
        return "XW-" + raw
    return ""


class TicketStore:
    """All ticket operations over one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        migrate(engine)

    # -- helpers ---------------------------------------------------------------------------
    @staticmethod
    def _event(conn: Connection, ticket_id: int, actor: str, action: str, **detail: Any) -> None:
        conn.execute(
            insert(ticket_events).values(
                ticket_id=ticket_id,
                at=utcnow(),
                actor=actor,
                action=action,
                detail=json.dumps(detail, ensure_ascii=False) if detail else "",
            )
        )

    @staticmethod
    def _enqueue(conn: Connection, kind: str, ticket_id: int | None, **payload: Any) -> None:
        now = utcnow()
        conn.execute(
            insert(outbox).values(
                kind=kind,
                ticket_id=ticket_id,
                payload=json.dumps(payload, ensure_ascii=False),
                created_at=now,
                next_attempt_at=now,
                attempts=0,
            )
        )

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
    ) -> Ticket:
        """Store a new ticket and queue its card for staff, in one transaction."""
        now = utcnow()
        for _ in range(10):
            number = new_number()
            try:
                with self.engine.begin() as conn:
                    result = conn.execute(
                        insert(tickets).values(
                            number=number,
                            sender_id=sender_id,
                            contact_name=contact_name,
                            phone=phone,
                            township=township,
                            category=category,
                            description=description[:MAX_DESCRIPTION],
                            state="new",
                            audio_file=audio_file,
                            created_at=now,
                            updated_at=now,
                            last_notified_at=now,
                        )
                    )
                    tid = result.inserted_primary_key[0]
                    self._event(conn, tid, sender_id, "created", category=category, township=township)
                    self._enqueue(conn, "staff_card", tid)
                    return self._get(conn, number)
            except IntegrityError:
                if not self._number_taken(number):
                    raise
                continue  # the random number was taken: draw again
        raise TicketError("could not allocate a ticket number")

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

    def add_resident_message(self, number: str, sender_id: str, text: str) -> Ticket:
        """A resident adds to their own open ticket; staff are told."""
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            if ticket.sender_id != sender_id:
                raise TicketError("not the sender's ticket")
            if ticket.state == "closed":
                raise TicketError("ticket is closed")
            conn.execute(
                insert(ticket_messages).values(
                    ticket_id=ticket.id, at=utcnow(), author=sender_id, from_staff=False, text=text
                )
            )
            self._event(conn, ticket.id, sender_id, "resident_note")
            self._enqueue(conn, "staff_note", ticket.id, text=text)
            return ticket

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
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            won = (
                conn.execute(
                    update(tickets)
                    .where(and_(tickets.c.id == ticket.id, tickets.c.state == "new"))
                    .values(state="claimed", claimed_by=staff_id, claimed_by_name=staff_name, updated_at=utcnow())
                ).rowcount
                == 1
            )
            if won:
                self._event(conn, ticket.id, staff_id, "claimed", name=staff_name)
                self._enqueue(conn, "staff_card_update", ticket.id)
            return won

    def reply(self, number: str, staff_id: str, staff_name: str, text: str) -> Ticket:
        """A staff reply: recorded, queued for the resident; claims the ticket if new."""
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            if ticket.state == "closed":
                raise TicketError("ticket is closed")
            now = utcnow()
            values: dict[str, Any] = {"state": "answered", "updated_at": now}
            if not ticket.claimed_by:
                values |= {"claimed_by": staff_id, "claimed_by_name": staff_name}
            conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(**values))
            conn.execute(
                insert(ticket_messages).values(ticket_id=ticket.id, at=now, author=staff_id, from_staff=True, text=text)
            )
            self._event(conn, ticket.id, staff_id, "replied", name=staff_name)
            self._enqueue(conn, "resident_message", ticket.id, text=text)
            self._enqueue(conn, "staff_card_update", ticket.id)
            return self._get(conn, number)

    def close(self, number: str, staff_id: str, staff_name: str) -> bool:
        """Close (已解决); False when it was already closed."""
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            done = (
                conn.execute(
                    update(tickets)
                    .where(and_(tickets.c.id == ticket.id, tickets.c.state != "closed"))
                    .values(
                        state="closed",
                        updated_at=utcnow(),
                        claimed_by=ticket.claimed_by or staff_id,
                        claimed_by_name=ticket.claimed_by_name or staff_name,
                    )
                ).rowcount
                == 1
            )
            if done:
                self._event(conn, ticket.id, staff_id, "closed", name=staff_name)
                self._enqueue(conn, "resident_closed", ticket.id)
                self._enqueue(conn, "staff_card_update", ticket.id)
            return done

    def reopen(self, number: str, actor: str) -> bool:
        """Reopen a closed ticket (back to new, unclaimed)."""
        with self.engine.begin() as conn:
            ticket = self._get(conn, number)
            done = (
                conn.execute(
                    update(tickets)
                    .where(and_(tickets.c.id == ticket.id, tickets.c.state == "closed"))
                    .values(
                        state="new",
                        claimed_by=None,
                        claimed_by_name=None,
                        updated_at=utcnow(),
                        last_notified_at=utcnow(),
                    )
                ).rowcount
                == 1
            )
            if done:
                self._event(conn, ticket.id, actor, "reopened")
                self._enqueue(conn, "staff_card", ticket.id)
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

    # -- staff cards (which Telegram message shows which ticket) -------------------------------
    def remember_card(self, chat_id: str, message_id: int, ticket_id: int) -> None:
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(staff_cards.c.ticket_id).where(
                    and_(staff_cards.c.chat_id == chat_id, staff_cards.c.message_id == message_id)
                )
            ).first()
            if exists is None:
                conn.execute(insert(staff_cards).values(chat_id=chat_id, message_id=message_id, ticket_id=ticket_id))

    def ticket_for_card(self, chat_id: str, message_id: int) -> Ticket | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tickets)
                .join(staff_cards, staff_cards.c.ticket_id == tickets.c.id)
                .where(and_(staff_cards.c.chat_id == chat_id, staff_cards.c.message_id == message_id))
            ).first()
            return Ticket.from_row(row) if row else None

    def cards_for(self, ticket_id: int) -> list[tuple[str, int]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(staff_cards.c.chat_id, staff_cards.c.message_id).where(staff_cards.c.ticket_id == ticket_id)
            )
            return [(c, m) for c, m in rows]

    # -- outbox ---------------------------------------------------------------------------------
    def due(self, limit: int = 20) -> list[dict[str, Any]]:
        """Undelivered outbox rows whose time has come, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox)
                .where(and_(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at <= utcnow()))
                .order_by(outbox.c.id)
                .limit(limit)
            )
            return [{**r._mapping, "payload": json.loads(r.payload or "{}")} for r in rows]

    def delivered(
        self,
        outbox_id: int,
        ticket_id: int | None = None,
        event: str | None = None,
        follow_ups: tuple[tuple[str, dict[str, Any]], ...] = (),
    ) -> None:
        """Mark an outbox row done, record `event`, and queue `follow_ups` (kind, payload) —
        all in one transaction, so a crash never leaves one without the others."""
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(delivered_at=utcnow()))
            if ticket_id is not None and event:
                self._event(conn, ticket_id, "system", event)
            for kind, payload in follow_ups:
                self._enqueue(conn, kind, ticket_id, **payload)

    def failed(self, outbox_id: int, error: str, max_delay: float = 300.0) -> None:
        """Count a failed delivery and push the next attempt back (exponential, capped)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(outbox.c.attempts).where(outbox.c.id == outbox_id)).first()
            attempts = (row[0] if row else 0) + 1
            delay = min(max_delay, 2.0 ** min(attempts, 16))
            conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(attempts=attempts, last_error=error[:500], next_attempt_at=utcnow() + timedelta(seconds=delay))
            )

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
            ).scalar_one()

    def renotify_due(self, minutes: int) -> list[Ticket]:
        """New tickets nobody claimed for `minutes`: queue a reminder for staff."""
        cutoff = utcnow() - timedelta(minutes=minutes)
        out = []
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(tickets).where(
                    and_(
                        tickets.c.state == "new",
                        or_(tickets.c.last_notified_at.is_(None), tickets.c.last_notified_at <= cutoff),
                    )
                )
            ).all()
            for row in rows:
                ticket = Ticket.from_row(row)
                conn.execute(update(tickets).where(tickets.c.id == ticket.id).values(last_notified_at=utcnow()))
                self._enqueue(conn, "staff_renotify", ticket.id, minutes=minutes)
                out.append(ticket)
        return out

    # -- questions (for the staff report) --------------------------------------------------------
    def log_question(self, intent: str, decision: str, sources: list[str], text: str) -> None:
        """Remember a question and what was done with it (text already anonymised)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(questions).values(
                    at=utcnow(), intent=intent, decision=decision, sources=",".join(sources), text=text[:300]
                )
            )

    def questions_between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(questions).where(and_(questions.c.at >= start, questions.c.at < end)).order_by(questions.c.id)
            )
            return [dict(r._mapping) for r in rows]


@lru_cache(maxsize=4)
def store_for(url: str) -> TicketStore:
    """One store (and engine) per database URL in a process."""
    return TicketStore(make_engine(url))


def default_store() -> TicketStore:
    """The store for the configured DATABASE_URL."""
    from common.config import settings

    return store_for(settings().database_url)
