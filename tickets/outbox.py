"""The outbox: every message to staff or a resident is a row, written in the transaction
that caused it and sent later by the bridge's deliverer (bot/delivery.py).

`OutboxKind` is the one list of kinds; the store queues them and the deliverer has one
sender per kind (a test checks both sides). Rows are read as typed `OutboxRow`s.

Designed for what comes next: `due()` is the one place that picks rows to send, so it can
become a claim with a lease (`UPDATE … RETURNING` / `SELECT … FOR UPDATE SKIP LOCKED` on
PostgreSQL) when several deliverers run; `delivered()` and `failed()` already name the row
they finish by id.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, insert, select, update
from sqlalchemy.engine import Connection, Engine

from tickets import audit
from tickets.schema import outbox, utcnow

MAX_ERROR = 500


class OutboxKind(StrEnum):
    """What an outbox row asks the deliverer to do (the value is stored in `outbox.kind`)."""

    STAFF_CARD = "staff_card"  # a new card in the staff group
    STAFF_CARD_UPDATE = "staff_card_update"  # edit every card of the ticket
    STAFF_NOTE = "staff_note"  # a resident's note, as a reply to the card
    STAFF_RENOTIFY = "staff_renotify"  # nobody claimed the ticket yet
    STAFF_VOICE = "staff_voice"  # the resident's audio, after its card
    RESIDENT_MESSAGE = "resident_message"  # a staff reply to the resident
    RESIDENT_CLOSED = "resident_closed"  # the resident is told the ticket is done

    @property
    def to_staff(self) -> bool:
        return self.value.startswith("staff_")


@dataclass(frozen=True)
class OutboxRow:
    """One queued message. `kind` is a string, because an old or newer process may have
    written one this version does not know (`known_kind` is None then)."""

    id: int
    kind: str
    ticket_id: int | None
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    delivered_at: datetime | None
    last_error: str | None

    @property
    def known_kind(self) -> OutboxKind | None:
        try:
            return OutboxKind(self.kind)
        except ValueError:
            return None

    @classmethod
    def from_row(cls, row: Any) -> OutboxRow:
        m = row._mapping
        values = {k: m[k] for k in cls.__dataclass_fields__ if k != "payload"}
        return cls(payload=json.loads(m["payload"] or "{}"), **values)


def enqueue(conn: Connection, kind: OutboxKind, ticket_id: int | None, **payload: Any) -> None:
    """Queue a row inside the caller's transaction."""
    now = utcnow()
    conn.execute(
        insert(outbox).values(
            kind=OutboxKind(kind).value,
            ticket_id=ticket_id,
            payload=json.dumps(payload, ensure_ascii=False),
            created_at=now,
            next_attempt_at=now,
            attempts=0,
        )
    )


class Outbox:
    """The queue over one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def due(self, limit: int = 20) -> list[OutboxRow]:
        """Undelivered rows whose time has come, oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(outbox)
                .where(and_(outbox.c.delivered_at.is_(None), outbox.c.next_attempt_at <= utcnow()))
                .order_by(outbox.c.id)
                .limit(limit)
            )
            return [OutboxRow.from_row(r) for r in rows]

    def delivered(
        self,
        outbox_id: int,
        ticket_id: int | None = None,
        event: str | None = None,
        follow_ups: tuple[tuple[OutboxKind, dict[str, Any]], ...] = (),
    ) -> None:
        """Mark a row done, record `event`, and queue `follow_ups` (kind, payload) — all in
        one transaction, so a crash never leaves one without the others."""
        with self.engine.begin() as conn:
            conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(delivered_at=utcnow()))
            if ticket_id is not None and event:
                audit.record(conn, ticket_id, audit.SYSTEM, event)
            for kind, payload in follow_ups:
                enqueue(conn, kind, ticket_id, **payload)

    def failed(self, outbox_id: int, error: str, max_delay: float = 300.0) -> None:
        """Count a failed delivery and push the next attempt back (exponential, capped)."""
        with self.engine.begin() as conn:
            row = conn.execute(select(outbox.c.attempts).where(outbox.c.id == outbox_id)).first()
            attempts = (row[0] if row else 0) + 1
            delay = min(max_delay, 2.0 ** min(attempts, 16))
            conn.execute(
                update(outbox)
                .where(outbox.c.id == outbox_id)
                .values(
                    attempts=attempts,
                    last_error=error[:MAX_ERROR],
                    next_attempt_at=utcnow() + timedelta(seconds=delay),
                )
            )

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
            ).scalar_one()
