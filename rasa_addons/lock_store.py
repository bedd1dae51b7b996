"""Rasa's lock store, chosen by LOCK_STORE_URL (endpoints.yml names this class).

Rasa handles one message of a conversation at a time by locking the conversation. With one
Rasa process the locks live in its memory (the default); with several replicas they must
be shared: `LOCK_STORE_URL=redis://host:6379/1` gives Rasa's RedisLockStore. Even then,
open-source Rasa 3.6 can lose a turn when two messages of one person arrive at the same
instant on two replicas (README, "Production"): the bridge sends one message per chat at a
time, which avoids that.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from rasa.core.lock_store import InMemoryLockStore, LockStore, RedisLockStore

from common.config import settings

KEY_PREFIX = "xunwu"


def redis_options(url: str) -> dict[str, Any]:
    """RedisLockStore's arguments for `redis://[user:password@]host[:port][/db]`."""
    parts = urlsplit(url)
    db = parts.path.strip("/")
    return {
        "host": parts.hostname or "localhost",
        "port": parts.port or 6379,
        "db": int(db) if db else 1,
        "username": unquote(parts.username) if parts.username else None,
        "password": unquote(parts.password) if parts.password else None,
        "use_ssl": parts.scheme == "rediss",
        "key_prefix": KEY_PREFIX,
    }


class ConfiguredLockStore:
    """Not a lock store itself: constructing it gives the one LOCK_STORE_URL asks for."""

    def __new__(cls, endpoint_config: Any = None, **_: Any) -> LockStore:  # type: ignore[misc]
        url = settings().lock_store_url
        if not url:
            return InMemoryLockStore()
        return RedisLockStore(**redis_options(url))


def check_reachable(timeout: float) -> str | None:
    """None when LOCK_STORE_URL (if set) answers within `timeout` s, else why not (one line)."""
    import time

    import redis

    url = settings().lock_store_url
    if not url:
        return None
    options = redis_options(url)
    client = redis.StrictRedis(
        host=options["host"],
        port=options["port"],
        db=options["db"],
        username=options["username"],
        password=options["password"],
        ssl=options["use_ssl"],
        socket_timeout=2,
        socket_connect_timeout=2,
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            client.ping()
            return None
        except redis.RedisError as exc:
            if time.monotonic() > deadline:
                return str(exc).splitlines()[0]
            time.sleep(1.0)
