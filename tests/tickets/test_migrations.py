"""The frozen migrations build exactly the tables schema.py describes, and are never re-run."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect, text
from sqlalchemy.engine import Engine

from tests.conftest import fresh_database_url
from tickets import migrations
from tickets.schema import make_engine, metadata


def _shape(engine: Engine) -> dict[str, tuple[set[tuple[str, bool]], set[str]]]:
    found = {}
    insp = inspect(engine)
    for table in insp.get_table_names():
        if table == "schema_version":
            continue
        columns = {(c["name"], bool(c["nullable"])) for c in insp.get_columns(table)}
        indexes = {i["name"] for i in insp.get_indexes(table)}
        found[table] = (columns, indexes)
    return found


def test_the_steps_build_what_schema_py_describes(tmp_path: Path) -> None:
    stepped = make_engine(fresh_database_url(tmp_path / "stepped"))
    assert migrations.migrate(stepped) == migrations.MIGRATIONS[-1][0]
    described = make_engine(fresh_database_url(tmp_path / "described"))
    metadata.create_all(described)  # only for the comparison: the store never does this
    assert _shape(stepped) == _shape(described)


def test_a_database_of_the_first_release_is_upgraded_once(tmp_path: Path) -> None:
    engine = make_engine(fresh_database_url(tmp_path))
    with engine.begin() as conn:  # what release 1's create_all made: its tables, no version table
        migrations._sql(migrations.V1)(conn)
        conn.execute(
            text(
                "INSERT INTO tickets (number, sender_id, contact_name, phone, township, category, description, "
                "state, created_at, updated_at) VALUES ('XW-23456', 's', '', '', '', '', 'old', 'new', "
                "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"
            )
        )
    latest = migrations.MIGRATIONS[-1][0]
    assert migrations.migrate(engine) == latest
    with engine.connect() as conn:
        assert migrations.current_version(conn) == latest
        assert conn.execute(text("SELECT urgent FROM tickets WHERE number = 'XW-23456'")).scalar() in (0, False)
    assert migrations.migrate(engine) == latest  # nothing is re-run
