"""The outbox: every message to staff or a resident is a row, written in the transaction
that caused it and sent later by the bridge's deliverer (bot/delivery.py).

`OutboxKind` is the one list of kinds; the store queues them and the deliverer has one
sender per kind (a test checks both sides). Rows are read as typed `OutboxRow`s.

Several deliverers may run (two bridges, a restart overlapping the old process): a row is
sent only by the one that **claimed** it. `claim_next(owner)` takes the oldest due row
that nobody holds and leases it to `owner` for `lease_seconds` — `SELECT … FOR UPDATE
SKIP LOCKED` on PostgreSQL, one conditional UPDATE on SQLite (whose writers are
serialised anyway) — so two deliverers never hold one row at once. A row leaves the
outbox only through `delivered()` (Telegram confirmed it, or it can never be sent);
`failed()` and `uncertain()` give it back with its next attempt time. A deliverer that
dies holding a row leaves it leased until the lease ends; then it is due again.

`uncertain` counts attempts that timed out: Telegram may have delivered them. The
deliverer resends such a row at most once (README: at most two copies).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, insert, or_, select, update
from sqlalchemy.engine import Connection, Engine

from tickets import audit
from tickets.schema import outbox, utcnow

MAX_ERROR = 500
LEASE_SECONDS = 60.0


class OutboxKind(StrEnum):
    """What an outbox row asks the deliverer to do (the value is stored in `outbox.kind`)."""

    STAFF_CARD = "staff_card"  # a new card in the staff group
    STAFF_CARD_UPDATE = "staff_card_update"  # edit every card of the ticket
    STAFF_NOTE = "staff_note"  # a resident's note, as a reply to the card
    STAFF_RENOTIFY = "staff_renotify"  # nobody claimed the ticket yet
    STAFF_VOICE = "staff_voice"  # the resident's audio, after its card
    STAFF_ALERT = "staff_alert"  # something is wrong (no ticket): messages overdue, a service keeps dying
    RESIDENT_TICKET_CREATED = "resident_ticket_created"  # the ticket number, to the resident who asked
    RESIDENT_MESSAGE = "resident_message"  # a staff reply to the resident
    RESIDENT_CLOSED = "resident_closed"  # the ticket is done

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
    lease_until: datetime | None = None
    lease_owner: str | None = None
    uncertain: int = 0

    @property
    def known_kind(self) -> OutboxKind | None:
        try:
            return OutboxKind(self.kind)
        except ValueError:
            return None

    def _replace_lease(self, until: datetime, owner: str) -> OutboxRow:
        return replace(self, lease_until=until, lease_owner=owner)

    @classmethod
    def from_row(cls, row: Any) -> OutboxRow:
        m = row._mapping
        values = {k: m[k] for k in cls.__dataclass_fields__ if k != "payload" and k in m}
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
            uncertain=0,
        )
    )


def _due(now: datetime) -> Any:
    """Undelivered, its time has come, and nobody holds a lease on it."""
    return and_(
        outbox.c.delivered_at.is_(None),
        outbox.c.next_attempt_at <= now,
        or_(outbox.c.lease_until.is_(None), outbox.c.lease_until < now),
    )


class Outbox:
    """The queue over one database."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def due(self, limit: int = 20) -> list[OutboxRow]:
        """Rows a deliverer could claim now, oldest first (a read; nothing is claimed)."""
        with self.engine.connect() as conn:
            rows = conn.execute(select(outbox).where(_due(utcnow())).order_by(outbox.c.id).limit(limit))
            return [OutboxRow.from_row(r) for r in rows]

    def claim_next(self, owner: str, lease_seconds: float = LEASE_SECONDS) -> OutboxRow | None:
        """The oldest due row, now leased to `owner`; None when nothing is due."""
        now = utcnow()
        until = now + timedelta(seconds=lease_seconds)
        with self.engine.begin() as conn:
            if conn.dialect.name == "postgresql":
                row = conn.execute(
                    select(outbox).where(_due(now)).order_by(outbox.c.id).limit(1).with_for_update(skip_locked=True)
                ).first()
                if row is None:
                    return None
                conn.execute(update(outbox).where(outbox.c.id == row.id).values(lease_until=until, lease_owner=owner))
                return OutboxRow.from_row(row)._replace_lease(until, owner)
            for _ in range(5):  # SQLite: writers are serialised; the UPDATE re-checks the condition
                row = conn.execute(select(outbox).where(_due(now)).order_by(outbox.c.id).limit(1)).first()
                if row is None:
                    return None
                won = conn.execute(
                    update(outbox)
                    .where(and_(outbox.c.id == row.id, _due(now)))
                    .values(lease_until=until, lease_owner=owner)
                )
                if won.rowcount == 1:
                    return OutboxRow.from_row(row)._replace_lease(until, owner)
        return None

    def delivered(
        self,
        outbox_id: int,
        ticket_id: int | None = None,
        event: str | None = None,
        follow_ups: tuple[tuple[OutboxKind, dict[str, Any]], ...] = (),
    ) -> bool:
        """Mark a row done, record `event`, and queue `follow_ups` (kind, payload) — all in
        one transaction, so a crash never leaves one without the others. Only the first
        call for a row does anything (False for the others: a second deliverer whose lease
        had run out records no second event)."""
        with self.engine.begin() as conn:
            done = conn.execute(
                update(outbox)
                .where(and_(outbox.c.id == outbox_id, outbox.c.delivered_at.is_(None)))
                .values(delivered_at=utcnow(), lease_until=None)
            )
            if done.rowcount != 1:
                return False
            if ticket_id is not None and event:
                audit.record(conn, ticket_id, audit.SYSTEM, event)
            for kind, payload in follow_ups:
                enqueue(conn, kind, ticket_id, **payload)
        return True

    def failed(self, outbox_id: int, error: str, delay: float | None = None, max_delay: float = 300.0) -> None:
        """Count a failed attempt; the row is due again after `delay` seconds (lease released).
        Without a `delay`: exponential in the attempts (2, 4, 8 … s), at most `max_delay`."""
        self._retry(outbox_id, error, delay, max_delay, uncertain=False)

    def uncertain(self, outbox_id: int, error: str, delay: float | None = None, max_delay: float = 300.0) -> None:
        """Count an attempt that timed out (it may have been delivered); due again after `delay`."""
        self._retry(outbox_id, error, delay, max_delay, uncertain=True)

    def _retry(self, outbox_id: int, error: str, delay: float | None, max_delay: float, uncertain: bool) -> None:
        with self.engine.begin() as conn:
            row = conn.execute(select(outbox.c.attempts).where(outbox.c.id == outbox_id)).first()
            attempts = (row[0] if row else 0) + 1
            if delay is None:
                delay = min(max_delay, 2.0 ** min(attempts, 16))
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_error": error[:MAX_ERROR],
                "next_attempt_at": utcnow() + timedelta(seconds=max(0.0, delay)),
                "lease_until": None,
                "lease_owner": None,
            }
            if uncertain:
                values["uncertain"] = outbox.c.uncertain + 1
            conn.execute(update(outbox).where(outbox.c.id == outbox_id).values(**values))

    def release(self, outbox_id: int, owner: str) -> None:
        """Give a claimed row back untouched (a deliverer stopping)."""
        with self.engine.begin() as conn:
            conn.execute(
                update(outbox)
                .where(and_(outbox.c.id == outbox_id, outbox.c.lease_owner == owner, outbox.c.delivered_at.is_(None)))
                .values(lease_until=None, lease_owner=None)
            )

    def reclaim_dead(self, is_dead: Callable[[str], bool]) -> int:
        """Release the leases of holders that `is_dead` says no longer run; how many rows."""
        now = utcnow()
        with self.engine.begin() as conn:
            owners = [
                r[0]
                for r in conn.execute(
                    select(outbox.c.lease_owner)
                    .where(and_(outbox.c.delivered_at.is_(None), outbox.c.lease_until >= now))
                    .distinct()
                )
                if r[0]
            ]
            dead = [o for o in owners if is_dead(o)]
            if not dead:
                return 0
            freed = conn.execute(
                update(outbox)
                .where(and_(outbox.c.delivered_at.is_(None), outbox.c.lease_owner.in_(dead)))
                .values(lease_until=None, lease_owner=None)
            )
            return freed.rowcount

    def pending_count(self) -> int:
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count()).select_from(outbox).where(outbox.c.delivered_at.is_(None))
            ).scalar_one()

    def pending_for(self, ticket_id: int, kind: OutboxKind) -> int:
        """Undelivered rows of `kind` for a ticket."""
        with self.engine.connect() as conn:
            return conn.execute(
                select(func.count())
                .select_from(outbox)
                .where(
                    and_(outbox.c.ticket_id == ticket_id, outbox.c.kind == kind.value, outbox.c.delivered_at.is_(None))
                )
            ).scalar_one()

    def mark_overdue(self, minutes: float) -> list[OutboxRow]:
        """Rows waiting longer than `minutes` that staff were not yet alerted about (now marked)."""
        cutoff = utcnow() - timedelta(minutes=minutes)
        with self.engine.begin() as conn:
            rows = conn.execute(
                select(outbox).where(
                    and_(
                        outbox.c.delivered_at.is_(None),
                        outbox.c.alerted_at.is_(None),
                        outbox.c.created_at <= cutoff,
                        outbox.c.kind != OutboxKind.STAFF_ALERT.value,
                    )
                )
            ).all()
            if rows:
                ids = [r.id for r in rows]
                conn.execute(
                    update(outbox)
                    .where(and_(outbox.c.id.in_(ids), outbox.c.alerted_at.is_(None)))
                    .values(alerted_at=utcnow())
                )
            return [OutboxRow.from_row(r) for r in rows]

    def alert(self, key: str, **values: Any) -> None:
        """Queue an alert for the staff group (texts.yml `key` with `values`)."""
        with self.engine.begin() as conn:
            enqueue(conn, OutboxKind.STAFF_ALERT, None, key=key, values=values)
