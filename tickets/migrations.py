"""The ticket database's migrations: numbered steps, each frozen as it was released.

A step never reads the current tables of schema.py (they change; a released step must
not), so a fresh database is built by running every step in order, exactly as an old one
was upgraded. To change the schema: change schema.py, append a step here (e.g.
`ALTER TABLE tickets ADD COLUMN …`), and tests/tickets/test_migrations.py checks that
the steps and schema.py agree. `migrate()` applies the missing steps in one transaction
and records each in `schema_version`.

Several processes may open a fresh database at once (two action servers, the bridge, a
replica starting): `migrate()` runs under a lock held for the whole transaction — a
PostgreSQL advisory lock, or an exclusive lock on a file beside a SQLite database — so
one of them migrates and the others then find the work done. `python -m tickets.migrate`
runs it as one explicit step (the cluster and the containers do that before starting
the services).
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Callable, Iterator
from pathlib import Path

from sqlalchemy import Column, DateTime, Integer, MetaData, Table, select, text
from sqlalchemy.engine import Connection, Engine

from tickets.schema import utcnow

_versions = MetaData()
schema_version = Table(
    "schema_version",
    _versions,
    Column("version", Integer, primary_key=True),
    Column("applied_at", DateTime, nullable=False),
)

# Version 1 (the first release), as written then. {id} is the dialect's auto-increment key.
V1 = """
CREATE TABLE tickets (
    id {id}, number VARCHAR(16) NOT NULL UNIQUE, sender_id VARCHAR(128) NOT NULL,
    contact_name VARCHAR(64) NOT NULL, phone VARCHAR(32) NOT NULL, township VARCHAR(16) NOT NULL,
    category VARCHAR(32) NOT NULL, description TEXT NOT NULL, state VARCHAR(16) NOT NULL,
    claimed_by VARCHAR(64), claimed_by_name VARCHAR(128), audio_file VARCHAR(256),
    created_at TIMESTAMP NOT NULL, updated_at TIMESTAMP NOT NULL, last_notified_at TIMESTAMP
);
CREATE INDEX ix_tickets_sender_id ON tickets (sender_id);
CREATE TABLE ticket_events (
    id {id}, ticket_id INTEGER NOT NULL REFERENCES tickets (id), at TIMESTAMP NOT NULL,
    actor VARCHAR(128) NOT NULL, action VARCHAR(32) NOT NULL, detail TEXT NOT NULL
);
CREATE INDEX ix_ticket_events_ticket_id ON ticket_events (ticket_id);
CREATE TABLE ticket_messages (
    id {id}, ticket_id INTEGER NOT NULL REFERENCES tickets (id), at TIMESTAMP NOT NULL,
    author VARCHAR(128) NOT NULL, from_staff BOOLEAN NOT NULL, text TEXT NOT NULL
);
CREATE INDEX ix_ticket_messages_ticket_id ON ticket_messages (ticket_id);
CREATE TABLE outbox (
    id {id}, kind VARCHAR(32) NOT NULL, ticket_id INTEGER REFERENCES tickets (id),
    payload TEXT NOT NULL, created_at TIMESTAMP NOT NULL, attempts INTEGER NOT NULL,
    next_attempt_at TIMESTAMP NOT NULL, delivered_at TIMESTAMP, last_error TEXT
);
CREATE INDEX ix_outbox_due ON outbox (delivered_at, next_attempt_at);
CREATE TABLE staff_cards (
    chat_id VARCHAR(32) NOT NULL, message_id INTEGER NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES tickets (id), PRIMARY KEY (chat_id, message_id)
);
CREATE INDEX ix_staff_cards_ticket_id ON staff_cards (ticket_id);
CREATE TABLE questions (
    id {id}, at TIMESTAMP NOT NULL, intent VARCHAR(32) NOT NULL, decision VARCHAR(16) NOT NULL,
    sources VARCHAR(256) NOT NULL, text TEXT NOT NULL
);
CREATE INDEX ix_questions_at ON questions (at);
"""

_AUTO_ID = {"postgresql": "SERIAL PRIMARY KEY"}


def _sql(script: str) -> Callable[[Connection], None]:
    """A step that runs `script` (statements separated by ";")."""

    def step(conn: Connection) -> None:
        auto_id = _AUTO_ID.get(conn.dialect.name, "INTEGER NOT NULL PRIMARY KEY")
        for statement in script.format(id=auto_id).split(";"):
            if statement.strip():
                conn.execute(text(statement))

    return step


def _v1(conn: Connection) -> None:
    """All tables of the first release; a database made by that release's create_all has them already."""
    if not conn.dialect.has_table(conn, "tickets"):
        _sql(V1)(conn)


# Version 2: a ticket can be urgent (a person in danger).
V2 = "ALTER TABLE tickets ADD COLUMN urgent BOOLEAN NOT NULL DEFAULT FALSE"

# Version 3: a ticket's conversation (whose turn it is; voice and photos from residents, and
# how each message came; tickets already answered or closed wait on nobody), and the entry
# a logged question was answered with (the report's "no record" answers).
V3 = """
ALTER TABLE tickets ADD COLUMN waiting_on VARCHAR(16) NOT NULL DEFAULT 'staff';
UPDATE tickets SET waiting_on = '' WHERE state IN ('answered', 'closed');
ALTER TABLE ticket_messages ADD COLUMN kind VARCHAR(16) NOT NULL DEFAULT 'text';
ALTER TABLE ticket_messages ADD COLUMN file_id VARCHAR(256);
ALTER TABLE ticket_messages ADD COLUMN via VARCHAR(16) NOT NULL DEFAULT '';
ALTER TABLE questions ADD COLUMN entry VARCHAR(64) NOT NULL DEFAULT ''
"""

# A missing version is applied whenever it appears, even after higher ones (`migrate` looks at which versions are
# recorded, not only at the highest), so steps written in parallel must not depend on
# each other.

# Version 4: one ticket per form run (the submit's idempotency key, unique), and columns
# wide enough for what Telegram can send (a full name is up to 129 characters). SQLite
# does not enforce VARCHAR lengths, so only PostgreSQL's columns are altered.
V4 = """
ALTER TABLE tickets ADD COLUMN submit_key VARCHAR(64);
CREATE UNIQUE INDEX ux_tickets_submit_key ON tickets (submit_key)
"""
V4_WIDER = """
ALTER TABLE tickets ALTER COLUMN contact_name TYPE VARCHAR(128);
ALTER TABLE tickets ALTER COLUMN claimed_by_name TYPE VARCHAR(256);
ALTER TABLE tickets ALTER COLUMN audio_file TYPE VARCHAR(512);
ALTER TABLE ticket_events ALTER COLUMN actor TYPE VARCHAR(256);
ALTER TABLE ticket_messages ALTER COLUMN author TYPE VARCHAR(256);
ALTER TABLE questions ALTER COLUMN sources TYPE VARCHAR(1024)
"""


def _v4(conn: Connection) -> None:
    _sql(V4)(conn)
    if conn.dialect.name == "postgresql":
        _sql(V4_WIDER)(conn)


# Version 5: outbox rows are claimed with a lease (several deliverers), and a timed-out
# attempt is counted (its message may have arrived); a table of named leases (one
# Telegram poller at a time).
V5 = """
ALTER TABLE outbox ADD COLUMN lease_until TIMESTAMP;
ALTER TABLE outbox ADD COLUMN lease_owner VARCHAR(64);
ALTER TABLE outbox ADD COLUMN uncertain INTEGER NOT NULL DEFAULT 0;
ALTER TABLE outbox ADD COLUMN alerted_at TIMESTAMP;
CREATE TABLE leases (
    name VARCHAR(64) NOT NULL PRIMARY KEY, owner VARCHAR(128) NOT NULL, expires_at TIMESTAMP NOT NULL
)
"""

MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "tickets, events, messages, outbox, staff cards, questions", _v1),
    (2, "urgent tickets", _sql(V2)),
    (3, "a ticket's conversation: whose turn, media, how a message came; the entry of a question", _sql(V3)),
    (4, "one ticket per form run; wider columns", _v4),
    (5, "outbox leases, uncertain attempts; named leases", _sql(V5)),
]


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    return max((row[0] for row in conn.execute(select(schema_version.c.version))), default=0)


# Any constant: the key of the PostgreSQL advisory lock every migrating process takes.
ADVISORY_LOCK_KEY = 7_240_916_015


@contextlib.contextmanager
def _file_lock(engine: Engine) -> Iterator[None]:
    """An exclusive lock on `<database file>.migrate-lock` (SQLite files), else nothing."""
    database = engine.url.database if engine.dialect.name == "sqlite" else None
    if not database or database == ":memory:":
        yield
        return
    path = Path(database).with_name(Path(database).name + ".migrate-lock")
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def migrate(engine: Engine) -> int:
    """Apply every missing step under the migration lock; returns the schema version now in place."""
    with _file_lock(engine), engine.begin() as conn:
        if conn.dialect.name == "postgresql":  # held until this transaction ends
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
        schema_version.create(conn, checkfirst=True)
        applied = {row[0] for row in conn.execute(select(schema_version.c.version))}
        for version, _title, step in MIGRATIONS:
            if version not in applied:
                step(conn)
                conn.execute(schema_version.insert().values(version=version, applied_at=utcnow()))
                applied.add(version)
    return max(applied, default=0)
