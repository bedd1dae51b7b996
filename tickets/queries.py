"""Reading tickets without changing them: a resident's own tickets (never anyone else's),
one ticket by number or id, the open ones, the counts per state, and a ticket's messages
and audit trail."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.engine import Engine

from tickets.model import STATES, Ticket, TicketError, by_number
from tickets.schema import ticket_events, ticket_messages, tickets


class Queries:
    """The read-only ticket operations (a part of tickets.lifecycle.Lifecycle)."""

    engine: Engine

    # -- residents ---------------------------------------------------------------------------
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

    # -- staff ----------------------------------------------------------------------------
    def get(self, number: str) -> Ticket:
        with self.engine.connect() as conn:
            return by_number(conn, number)

    def get_by_id(self, ticket_id: int) -> Ticket:
        with self.engine.connect() as conn:
            row = conn.execute(select(tickets).where(tickets.c.id == ticket_id)).first()
            if row is None:
                raise TicketError(f"no ticket id {ticket_id}")
            return Ticket.from_row(row)

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
            ticket = by_number(conn, number)
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
            ticket = by_number(conn, number)
            rows = conn.execute(
                select(ticket_messages).where(ticket_messages.c.ticket_id == ticket.id).order_by(ticket_messages.c.id)
            )
            return [dict(r._mapping) for r in rows]
