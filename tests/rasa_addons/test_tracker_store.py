"""rasa_addons/tracker_store.py: the tracker database comes from the configuration; a Rasa
started by hand without it stops with one clear error and creates no stray file."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

import pytest
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

from rasa_addons.tracker_store import WALTrackerStore
from tests.conftest import ROOT


def test_the_database_is_in_the_data_folder(data_dir: Path) -> None:
    store = WALTrackerStore(dialect="sqlite")
    assert Path(store.engine.url.database) == data_dir / "tracker.db"
    tracker = DialogueStateTracker.from_events("s1", [ActionExecuted("action_listen"), UserUttered("你好")])
    asyncio.run(store.save(tracker))
    again = WALTrackerStore(dialect="sqlite")  # a new process: read back from the file
    found = asyncio.run(again.retrieve("s1"))
    assert found is not None and found.latest_message.text == "你好"
    with again.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"


def test_an_unexpanded_variable_is_refused(data_dir: Path, tmp_path: Path) -> None:
    before = set(os.listdir(Path.cwd()))
    with pytest.raises(RasaException, match="environment variable that was not set"):
        WALTrackerStore(dialect="sqlite", db="${TRACKER_DB}")
    assert set(os.listdir(Path.cwd())) == before


def test_rasa_started_by_hand_gives_one_clear_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "ACTION_ENDPOINT_URL"}
    env["XUNWU_DATA_DIR"] = str(tmp_path / "data")
    rasa = Path(sys.executable).with_name("rasa")
    proc = subprocess.run(
        [str(rasa), "run", "--endpoints", str(ROOT / "endpoints.yml"), "-m", str(tmp_path / "none.tar.gz")],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert out.count("Please make sure to also set these environment variables") == 1 and "ACTION_ENDPOINT_URL" in out
    assert [p.name for p in tmp_path.iterdir() if "$" in p.name] == []
    assert not (tmp_path / "data" / "tracker.db").exists()
