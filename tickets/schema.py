"""The ticket database's tables as they are now, the engine, and the time helpers.

SQLite (a file in the data folder) by default; any SQLAlchemy URL, PostgreSQL included,
through DATABASE_URL. The tables are created and upgraded by tickets/migrations.py (frozen
steps), never from these definitions; a test checks that the two agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from sqlalchemy import (
    Boolean,
    Column,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
)
from sqlalchemy.engine import Engine

from common.sqlite import use_wal

metadata = MetaData()


# Residents and staff read times in Xunwu's zone.
LOCAL_TZ = ZoneInfo("Asia/Shanghai")


def utcnow() -> datetime:
    """Timezone-naive UTC now (SQLite stores no zone; every time here is UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


def to_local(moment: datetime) -> datetime:
    """A stored (naive UTC) time as an aware time in Xunwu."""
    return moment.replace(tzinfo=UTC).astimezone(LOCAL_TZ)


tickets = Table(
    "tickets",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("number", String(16), nullable=False, unique=True),
    Column("sender_id", String(128), nullable=False, index=True),
    Column("contact_name", String(128), nullable=False, default=""),
    Column("phone", String(32), nullable=False, default=""),
    Column("township", String(16), nullable=False, default=""),
    Column("category", String(32), nullable=False, default=""),
    Column("description", Text, nullable=False, default=""),
    Column("state", String(16), nullable=False, default="new"),
    Column("claimed_by", String(64)),
    Column("claimed_by_name", String(256)),  # a Telegram full name: up to 129 characters
    Column("audio_file", String(512)),
    Column("created_at", DateTime, nullable=False),
    Column("updated_at", DateTime, nullable=False),
    Column("last_notified_at", DateTime),
    # A person in danger (the urgent path): marked 紧急 on the card, staff reminded sooner.
    Column("urgent", Boolean, nullable=False, default=False),
    # Whose turn it is: "staff" (new, or the resident added something), "resident" (staff
    # asked a question), "" (staff answered; nothing asked).
    Column("waiting_on", String(16), nullable=False, default="staff"),
    # The submit's idempotency key (sender + form run): a retried submit finds its ticket.
    Column("submit_key", String(64)),
    Index("ux_tickets_submit_key", "submit_key", unique=True),
)

ticket_events = Table(
    "ticket_events",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(256), nullable=False),
    Column("action", String(32), nullable=False),
    Column("detail", Text, nullable=False, default=""),
)

ticket_messages = Table(
    "ticket_messages",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False, index=True),
    Column("at", DateTime, nullable=False),
    Column("author", String(256), nullable=False),
    Column("from_staff", Boolean, nullable=False, default=False),
    Column("text", Text, nullable=False),
    # "text", "voice" or "photo" (then `file_id` is the Telegram file and `text` its caption).
    Column("kind", String(16), nullable=False, default="text"),
    Column("file_id", String(256)),
    # How a resident's message reached the ticket: note, reply, answer, offer, urgent (model.VIA).
    Column("via", String(16), nullable=False, default=""),
)

outbox = Table(
    "outbox",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("ticket_id", Integer, ForeignKey("tickets.id")),
    Column("payload", Text, nullable=False, default="{}"),
    Column("created_at", DateTime, nullable=False),
    Column("attempts", Integer, nullable=False, default=0),
    Column("next_attempt_at", DateTime, nullable=False),
    Column("delivered_at", DateTime),
    Column("last_error", Text),
    # A deliverer claims a row until `lease_until` (several bridges never send one row twice).
    Column("lease_until", DateTime),
    Column("lease_owner", String(64)),
    # Attempts that timed out: Telegram may have delivered them (at most one resend).
    Column("uncertain", Integer, nullable=False, default=0),
    # When staff were alerted that this row is overdue (once).
    Column("alerted_at", DateTime),
    Index("ix_outbox_due", "delivered_at", "next_attempt_at"),
)

staff_cards = Table(
    "staff_cards",
    metadata,
    Column("chat_id", String(32), primary_key=True),
    Column("message_id", Integer, primary_key=True),
    Column("ticket_id", Integer, ForeignKey("tickets.id"), nullable=False, index=True),
)

questions = Table(
    "questions",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("at", DateTime, nullable=False, index=True),
    Column("intent", String(32), nullable=False),
    Column("decision", String(16), nullable=False),
    Column("sources", String(1024), nullable=False, default=""),
    Column("text", Text, nullable=False),
    # The knowledge entry answered (its key), when the logger gave one.
    Column("entry", String(64), nullable=False, default=""),
)

# Named leases: who holds a role that only one process may have at a time (the poller).
leases = Table(
    "leases",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("owner", String(128), nullable=False),
    Column("expires_at", DateTime, nullable=False),
)


def make_engine(url: str, pool_size: int | None = None) -> Engine:
    """An engine for `url`; SQLite files get WAL and a busy timeout for several processes.

    A server database (PostgreSQL) gets a small pool (`pool_size`, default DB_POOL_SIZE, and
    as many again on overflow), so every process together stays below the server's
    connection limit, and each connection is checked before use (a restarted server's dead
    connections are replaced instead of failing a request).
    """
    if url.startswith("sqlite:///"):
        path = Path(url.removeprefix("sqlite:///"))
        path.parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, future=True, connect_args={"timeout": 10})
        use_wal(engine, foreign_keys=True)
        return engine
    if url.startswith("sqlite"):
        return create_engine(url, future=True)
    if pool_size is None:
        from common.config import settings

        pool_size = settings().db_pool_size
    return create_engine(
        url, future=True, pool_pre_ping=True, pool_size=pool_size, max_overflow=pool_size, pool_recycle=1800
    )
