"""The ticket database's migrations: numbered steps, each frozen as it was released.

A step never reads the current tables of schema.py (they change; a released step must
not), so a fresh database is built by running every step in order, exactly as an old one
was upgraded. To change the schema: change schema.py, append a step here (e.g.
`ALTER TABLE tickets ADD COLUMN …`), and tests/tickets/test_migrations.py checks that
the steps and schema.py agree. `migrate()` applies the missing steps in one transaction
and records each in `schema_version`.
"""

from __future__ import annotations

from collections.abc import Callable

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

MIGRATIONS: list[tuple[int, str, Callable[[Connection], None]]] = [
    (1, "tickets, events, messages, outbox, staff cards, questions", _v1),
    (2, "urgent tickets", _sql(V2)),
    (3, "a ticket's conversation: whose turn, media, how a message came; the entry of a question", _sql(V3)),
]


def current_version(conn: Connection) -> int:
    if not conn.dialect.has_table(conn, "schema_version"):
        return 0
    return max((row[0] for row in conn.execute(select(schema_version.c.version))), default=0)


def migrate(engine: Engine) -> int:
    """Apply every missing step; returns the schema version now in place."""
    with engine.begin() as conn:
        schema_version.create(conn, checkfirst=True)
        have = current_version(conn)
        for version, _title, step in MIGRATIONS:
            if version > have:
                step(conn)
                conn.execute(schema_version.insert().values(version=version, applied_at=utcnow()))
                have = version
    return have
