"""SQLite settings shared by the ticket database and Rasa's tracker store."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Engine


def use_wal(engine: Engine, *, synchronous: str | None = None, foreign_keys: bool = False) -> None:
    """On every new connection of a SQLite `engine`: WAL journal and a 10 s busy timeout.

    `synchronous="NORMAL"` stops a commit from waiting for the disk (safe in WAL mode: a
    power cut can lose the last commits, never corrupt the file); `foreign_keys` turns on
    SQLite's foreign-key checks. Other dialects are left alone.
    """
    if engine.dialect.name != "sqlite":
        return

    def pragmas(dbapi_conn: Any, _record: Any) -> None:
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        if synchronous:
            cur.execute(f"PRAGMA synchronous={synchronous}")
        cur.execute("PRAGMA busy_timeout=10000")
        if foreign_keys:
            cur.execute("PRAGMA foreign_keys=ON")
        cur.close()

    event.listen(engine, "connect", pragmas)
