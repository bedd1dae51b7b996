"""Filing a ticket: `create` is the one place a ticket is inserted, in one transaction with
its event and its staff card; a submit's idempotency key makes a retried submit return the
first ticket instead of filing a second one."""

from __future__ import annotations

from typing import Any

from sqlalchemy import and_, func, insert, select
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from common import faults
from tickets.audit import record
from tickets.fields import MAX_TEXT
from tickets.model import Ticket, TicketError, by_number, fit, retry_transient
from tickets.numbers import new_number
from tickets.outbox import OutboxKind, enqueue
from tickets.schema import outbox, tickets, utcnow


class Filing:
    """Creating tickets (a part of tickets.lifecycle.Lifecycle)."""

    engine: Engine

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
        `key`: the submit's idempotency key (tickets.model.submit_key): a second create
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
                    ticket = by_number(conn, number)
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
