"""Rasa's SQL tracker store with SQLite in WAL mode (endpoints.yml names it).

A commit in SQLite's default journal mode waits for the disk (1–18 ms measured here) and
blocks Rasa's event loop; with WAL and synchronous=NORMAL it takes microseconds and stays
safe against process crashes. Other databases are used exactly as Rasa does.
"""

from __future__ import annotations

from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from sqlalchemy import event


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.close()


class WALTrackerStore(SQLTrackerStore):
    """SQLTrackerStore whose SQLite connections use WAL."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
            self.engine.dispose()  # connections made during set-up are replaced
