"""The frozen migrations build exactly the tables schema.py describes, and are never re-run."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import inspect
from sqlalchemy.engine import Engine

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
    stepped = make_engine(f"sqlite:///{tmp_path / 'stepped.db'}")
    assert migrations.migrate(stepped) == migrations.MIGRATIONS[-1][0]
    described = make_engine(f"sqlite:///{tmp_path / 'described.db'}")
    metadata.create_all(described)  # only for the comparison: the store never does this
    assert _shape(stepped) == _shape(described)


def test_a_database_of_the_first_release_is_taken_as_version_1(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    metadata.create_all(engine)  # what release 1's migration did
    assert migrations.migrate(engine) == 1
    with engine.connect() as conn:
        assert migrations.current_version(conn) == 1
    assert migrations.migrate(engine) == 1
