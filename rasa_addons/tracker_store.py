"""Rasa's SQL tracker store, configured from the environment and made cheaper per turn
(endpoints.yml names it).

- Where: TRACKER_STORE_URL — `sqlite:///<XUNWU_DATA_DIR>/tracker.db` by default (the
  embedded mode: one Rasa process, no other service), or `postgresql://user:pw@host/db`
  for several replicas. A `db` in endpoints.yml that still holds an unexpanded `${…}` is
  refused with one clear error instead of creating a file named after a variable.
- SQLite runs in WAL mode with synchronous=NORMAL: a commit in the default journal mode
  waits for the disk (1–18 ms measured here) and blocks Rasa's event loop.
- PostgreSQL gets a small pool (DB_POOL_SIZE, as many again at peaks: Rasa's own default of
  50 + 100 per replica would exhaust the server's 100 connections with two replicas),
  connections checked before use, and a read or write that finds the server restarting
  waits and tries again (DB_RETRY_SECONDS) instead of failing the resident's turn.
- The trackers of recent conversations stay in memory between turns (TRACKER_CACHE).
  Rasa re-reads every event of a session from SQL and decodes its JSON on each message (a
  third of its busy time in bench/latency.py's profile). A tracker leaves the cache when
  it is retrieved and comes back only when Rasa saves it, so a turn that fails half-way
  is re-read from the database; a new session is re-read too. `trusted` (the default on
  SQLite) uses a cached tracker as it is — right only while one Rasa process owns the
  conversations. `validated` (the default on a shared database) first asks the database
  for the id of the conversation's latest event (one indexed query) and uses the cached
  copy only when nothing was stored since this process saved it: with turns alternating
  between replicas, each replica would otherwise replay its own stale copy and the saved
  history would lose events. `off`: Rasa's behaviour. The cache is bounded by trackers
  and by events. Every event is still written to SQL: restarts lose nothing.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import SessionStarted
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.exceptions import RasaException
from sqlalchemy.exc import InterfaceError, OperationalError

from common import faults
from common.config import settings
from common.sqlite import use_wal

log = logging.getLogger(__name__)

CACHED_TRACKERS = 512
CACHED_EVENTS = 60_000  # all cached trackers together
TRACKER_DB = "tracker.db"
T = TypeVar("T")


def tracker_db(given: str | None = None) -> str:
    """The SQLite tracker database: `given` (a path from endpoints.yml), else TRACKER_STORE_URL's file."""
    if given and "$" in given:
        raise RasaException(
            f"tracker store: db is {given!r}, an environment variable that was not set. Start Rasa with "
            "`make run` / `make serve` (or `python -m rasa_addons.server run …`), or leave `db` out of "
            "endpoints.yml: the database then comes from TRACKER_STORE_URL."
        )
    if given:
        return given
    url = settings().tracker_store_url
    path = (
        Path(url.removeprefix("sqlite:///")) if url.startswith("sqlite:///") else Path(settings().data_dir) / TRACKER_DB
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    return str(path)


async def _now(function: Callable[..., T], *args: Any) -> T:
    """A synchronous call as an awaitable (Rasa's own SQL calls block the loop the same way)."""
    return function(*args)


class WALTrackerStore(SQLTrackerStore):
    """SQLTrackerStore on TRACKER_STORE_URL, with SQLite in WAL mode and recent trackers kept in memory."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        cfg = settings()
        self.cache_mode = kwargs.pop("cache", None) or cfg.tracker_cache_mode
        self.retry_seconds = cfg.db_retry_seconds
        url = cfg.tracker_store_url
        if url.startswith("sqlite") and not kwargs.get("host"):
            kwargs["dialect"] = "sqlite"
            kwargs["db"] = tracker_db(kwargs.get("db"))
        elif not kwargs.get("host"):
            kwargs.pop("db", None)
            kwargs["dialect"] = sa.engine.make_url(url).get_backend_name()
            kwargs["host"] = url  # SQLTrackerStore takes a whole URL in `host`
            os.environ["SQL_POOL_SIZE"] = str(cfg.db_pool_size)
            os.environ["SQL_MAX_OVERFLOW"] = str(cfg.db_pool_size)
        super().__init__(*args, **kwargs)
        if self.engine.dialect.name == "sqlite":
            use_wal(self.engine, synchronous="NORMAL")
            self.engine.dispose()  # connections made during set-up are replaced
        else:  # replace dead connections (a restarted server) before they fail a turn
            url_obj = self.engine.url
            self.engine.dispose()
            self.engine = sa.create_engine(
                url_obj, pool_pre_ping=True, pool_size=cfg.db_pool_size, max_overflow=cfg.db_pool_size
            )
            self.sessionmaker = sa.orm.session.sessionmaker(bind=self.engine)
        # sender id → (tracker, events in it, the id of the latest stored event when it was saved)
        self._recent: OrderedDict[str, tuple[DialogueStateTracker, int, int | None]] = OrderedDict()
        self._cached_events = 0

    # -- the database, patiently ------------------------------------------------------------
    async def _patiently(self, work: Callable[[], Awaitable[T]]) -> T:
        """Run `work`, waiting and trying again while the database is briefly unreachable."""
        deadline = time.monotonic() + self.retry_seconds
        delay = 0.2
        while True:
            try:
                return await work()
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("tracker store unreachable (%s); trying again in %.1f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 2.0)

    def latest_event_id(self, sender_id: str) -> int | None:
        """The id of the conversation's latest stored event (None: nothing stored)."""
        with self.session_scope() as session:
            return session.query(sa.func.max(self.SQLEvent.id)).filter(self.SQLEvent.sender_id == sender_id).scalar()

    # -- the cache -----------------------------------------------------------------------------
    def _take(self, sender_id: str) -> tuple[DialogueStateTracker, int, int | None] | None:
        entry = self._recent.pop(sender_id, None)
        if entry is not None:
            self._cached_events -= entry[1]
        return entry

    def _keep(self, tracker: DialogueStateTracker, events: int, marker: int | None) -> None:
        self._take(tracker.sender_id)
        self._recent[tracker.sender_id] = (tracker, events, marker)
        self._cached_events += events
        while self._recent and (len(self._recent) > CACHED_TRACKERS or self._cached_events > CACHED_EVENTS):
            _, (_, n, _) = self._recent.popitem(last=False)
            self._cached_events -= n

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        cached = self._take(sender_id) if self.cache_mode != "off" else None
        if cached is not None:
            tracker, _, marker = cached
            if self.cache_mode == "trusted":
                return tracker
            if await self._patiently(lambda: _now(self.latest_event_id, sender_id)) == marker:
                return tracker
        return await self._patiently(lambda: SQLTrackerStore.retrieve(self, sender_id))

    async def save(self, tracker: DialogueStateTracker) -> None:
        faults.point("before_tracker_save")
        await self._patiently(lambda: SQLTrackerStore.save(self, tracker))
        if self.cache_mode == "off":
            return
        events = list(tracker.events)
        if any(isinstance(e, SessionStarted) for e in events[1:]):
            self._take(tracker.sender_id)  # the next read starts the new session
            return
        marker = None
        if self.cache_mode == "validated":
            marker = await self._patiently(lambda: _now(self.latest_event_id, tracker.sender_id))
        self._keep(tracker, len(events), marker)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        return await self._patiently(lambda: SQLTrackerStore.retrieve_full_tracker(self, conversation_id))


def check_reachable(timeout: float) -> str | None:
    """None when TRACKER_STORE_URL answers within `timeout` s, else why not (one line)."""
    url = settings().tracker_store_url
    if url.startswith("sqlite"):
        return None
    engine = sa.create_engine(url, connect_args={"connect_timeout": max(1, int(timeout))})
    deadline = time.monotonic() + timeout
    try:
        while True:
            try:
                with engine.connect() as conn:
                    conn.execute(sa.text("SELECT 1"))
                return None
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() > deadline:
                    return str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc).splitlines()[0]
                time.sleep(1.0)
    finally:
        engine.dispose()
