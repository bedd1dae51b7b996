"""Fixtures for the ticket store: a fresh SQLite file per test, and a way to read its tables."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Table, select

from tests.conftest import fresh_database_url
from tickets.schema import make_engine
from tickets.store import Ticket, TicketStore


@pytest.fixture
def db_url(tmp_path: Path) -> str:
    """A new database for this test: a SQLite file, or a new PostgreSQL database in the
    PostgreSQL lane (store_for caches per URL, so never reuse one)."""
    return fresh_database_url(tmp_path)


@pytest.fixture
def store(db_url: str) -> Iterator[TicketStore]:
    ticket_store = TicketStore(make_engine(db_url))
    yield ticket_store
    ticket_store.engine.dispose()


@pytest.fixture
def rows(store: TicketStore) -> Callable[..., list[Any]]:
    """`rows(table)`: every row of a table of the store's database, in id order."""

    def read(table: Table, **where: Any) -> list[Any]:
        query = select(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        if "id" in table.c:
            query = query.order_by(table.c.id)
        with store.engine.connect() as conn:
            return list(conn.execute(query))

    return read


@pytest.fixture
def new_ticket(store: TicketStore) -> Callable[..., Ticket]:
    """`new_ticket(sender_id="100200301", **fields)`: a ticket as the help form stores it."""

    def create(sender_id: str = "100200301", **fields: str) -> Ticket:
        values = {
            "contact_name": "王阿姨",
            "phone": "13812345678",
            "township": "吉潭镇",
            "category": "补贴",
            "description": "护理补贴三个月没发了",
        } | fields
        return store.create(sender_id=sender_id, **values)

    return create
