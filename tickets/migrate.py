"""`python -m tickets.migrate`: bring the ticket database (DATABASE_URL) to the current
schema as one explicit step, before the services start (the cluster, the containers).

Services also migrate when they open the database, under the same lock, so this step is
a convenience for deployments that want migrations to happen once and visibly; a second
run changes nothing. Exit status 0 and the version on success; 2 with one line naming
DATABASE_URL when the database cannot be reached (after waiting DB_RETRY_SECONDS for a
server that is still starting).
"""

from __future__ import annotations

import sys
import time

from common.config import Settings, hide_password, settings_or_exit
from common.logs import mask


def migrate_or_exit(cfg: Settings, wait: float | None = None) -> int:
    """Migrate DATABASE_URL (waiting up to `wait` s, default DB_RETRY_SECONDS, for a server
    that is starting); on failure one line naming the variable, and exit status 2."""
    from sqlalchemy.exc import InterfaceError, OperationalError, SQLAlchemyError

    from tickets.migrations import migrate
    from tickets.schema import make_engine

    deadline = time.monotonic() + (cfg.db_retry_seconds if wait is None else wait)
    engine = make_engine(cfg.database_url)
    try:
        while True:
            try:
                return migrate(engine)
            except (OperationalError, InterfaceError) as exc:
                if time.monotonic() > deadline:
                    _refuse(cfg, exc)
                time.sleep(1.0)
            except SQLAlchemyError as exc:
                _refuse(cfg, exc)
    finally:
        engine.dispose()


def _refuse(cfg: Settings, exc: Exception) -> None:
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).strip()
    why = mask(text.splitlines()[0] if text else type(orig).__name__)
    print(f"error: DATABASE_URL={hide_password(cfg.database_url)!r} cannot be used: {why}", file=sys.stderr)
    raise SystemExit(2)


def main() -> int:
    version = migrate_or_exit(settings_or_exit())
    print(f"ticket database at schema version {version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
