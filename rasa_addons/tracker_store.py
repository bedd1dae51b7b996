"""Rasa's SQL tracker store, made cheaper per turn (endpoints.yml names it).

- The SQLite file is `<XUNWU_DATA_DIR>/tracker.db`, from the configuration (common/config.py),
  so endpoints.yml needs no path. A `db` that still holds an unexpanded `${…}` is refused
  with one clear error instead of creating a file named after a variable.

- SQLite runs in WAL mode with synchronous=NORMAL: a commit in the default journal mode
  waits for the disk (1–18 ms measured here) and blocks Rasa's event loop.
- The trackers of recent conversations stay in memory between turns. Rasa re-read every
  event of a session from SQL and decoded its JSON on each message (a third of its busy
  time in bench/latency.py's profile). A tracker leaves the memory cache when it is
  retrieved and comes back only when Rasa saves it, so a turn that fails half-way is
  re-read from the database; a new session is re-read too (it keeps only its own events).
  Every event is still written to SQL: restarts lose nothing.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException

from common.config import settings
from common.sqlite import use_wal

CACHED_TRACKERS = 512
TRACKER_DB = "tracker.db"


def tracker_db(given: str | None = None) -> str:
    """The tracker database: `given` (a path from endpoints.yml), else `<data_dir>/tracker.db`."""
    if given and "$" in given:
        raise RasaException(
            f"tracker store: db is {given!r}, an environment variable that was not set. Start Rasa with "
            "`make run` / `make serve` (or `python -m rasa_addons.server run …`), or leave `db` out of "
            "endpoints.yml: the path then comes from XUNWU_DATA_DIR."
        )
    if given:
        return given
    path = Path(settings().data_dir) / TRACKER_DB
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


class WALTrackerStore(SQLTrackerStore):
    """SQLTrackerStore with SQLite in WAL mode and recent trackers kept in memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if kwargs.get("dialect", "sqlite") == "sqlite" and not kwargs.get("host"):
            kwargs["db"] = tracker_db(kwargs.get("db"))
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            use_wal(self.engine, synchronous="NORMAL")
            self.engine.dispose()  # connections made during set-up are replaced
        # sender id → (tracker, number of its events at the moment it was saved)
        self._recent: OrderedDict[str, tuple[DialogueStateTracker, int]] = OrderedDict()

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        cached = self._recent.pop(sender_id, None)
        if cached is not None:
            return cached[0]
        return await super().retrieve(sender_id)

    async def save(self, tracker: DialogueStateTracker) -> None:
        await super().save(tracker)
        events = list(tracker.events)
        if any(isinstance(e, SessionStarted) for e in events[1:]):
            self._recent.pop(tracker.sender_id, None)  # the next read starts the new session
            return
        self._recent[tracker.sender_id] = (tracker, len(events))
        self._recent.move_to_end(tracker.sender_id)
        while len(self._recent) > CACHED_TRACKERS:
            self._recent.popitem(last=False)
