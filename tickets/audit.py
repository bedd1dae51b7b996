"""The audit trail: one `ticket_events` row per change (who, when, what)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import insert
from sqlalchemy.engine import Connection

from tickets.schema import ticket_events, utcnow

SYSTEM = "system"  # the actor of what the bridge does by itself (deliveries, reminders)


def record(conn: Connection, ticket_id: int, actor: str, action: str, **detail: Any) -> None:
    """Write one event inside the caller's transaction."""
    conn.execute(
        insert(ticket_events).values(
            ticket_id=ticket_id,
            at=utcnow(),
            actor=actor,
            action=action,
            detail=json.dumps(detail, ensure_ascii=False) if detail else "",
        )
    )
