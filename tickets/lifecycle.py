"""A ticket's life: create, claim, answer, close, reopen — each change with its audit event.

States: new → claimed → answered → closed, and closed → reopened (= new again). Beside the
state, `waiting_on` says whose turn it is: "staff" (a new ticket, or the resident added
something), "resident" (staff asked a question), "" (staff answered, nothing asked).
A ticket's conversation is its `ticket_messages`: staff replies and questions, and what the
resident added (text, voice or a photo; `via` says how: tickets.model.VIA). Every change
writes a `ticket_events` row (who, when, what) in the same transaction, and every message
to staff or resident is an `outbox` row in that transaction too, so nothing is promised
that is not stored. Concurrent claims: one conditional UPDATE, so exactly one wins.

The pieces: tickets/model.py (the `Ticket` value, states, helpers), tickets/filing.py
(`create`, idempotent submits), tickets/queries.py (reading); the changes are here.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.engine import Engine

from tickets.audit import record
from tickets.fields import MAX_TEXT
from tickets.filing import Filing
from tickets.model import MESSAGE_KINDS, VIA, Ticket, TicketError, by_number, change_if, fit
from tickets.outbox import OutboxKind, enqueue
from tickets.queries import Queries
from tickets.replies import asks_back
from tickets.schema import ticket_messages, tickets, utcnow


class Lifecycle(Filing, Queries):
    """The ticket operations over one database (tickets.store.TicketStore adds the rest):
    filing (Filing), reading (Queries), and the changes of a ticket's life below."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- residents ---------------------------------------------------------------------------
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
            ticket = by_number(conn, number)
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
            return by_number(conn, number)

    # -- staff ----------------------------------------------------------------------------
    def claim(self, number: str, staff_id: str, staff_name: str) -> bool:
        """Claim a new ticket; True for the one caller that wins."""
        staff_name = fit(tickets.c.claimed_by_name, staff_name)
        with self.engine.begin() as conn:
            ticket = by_number(conn, number)
            won = change_if(
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
            ticket = by_number(conn, number)
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
            return by_number(conn, number)

    def close(self, number: str, staff_id: str, staff_name: str) -> bool:
        """Close (已解决); False when it was already closed."""
        staff_name = fit(tickets.c.claimed_by_name, staff_name)
        with self.engine.begin() as conn:
            ticket = by_number(conn, number)
            done = change_if(
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
            ticket = by_number(conn, number)
            done = change_if(
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
