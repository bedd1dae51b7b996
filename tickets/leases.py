"""Named leases in the ticket database: a role only one process may hold at a time.

The Telegram bridge's poller is one (Telegram answers two pollers of one bot with 409
Conflict, and two webhook servers would both answer): every bridge tries `acquire`; the
holder renews before `expires_at`, the others wait as hot spares and take over once a
lease has run out (the holder died or hung). Works the same on SQLite and PostgreSQL:
one INSERT or one conditional UPDATE, so of two processes trying at once exactly one wins.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from tickets.schema import leases, utcnow


def new_owner() -> str:
    """A name for this process as a lease holder: `<host>:<pid>:<random>`."""
    return f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def owner_is_dead(owner: str) -> bool:
    """True when `owner` (from `new_owner`) was a process on this host that no longer runs,
    so its leases can be taken at once instead of after they run out (a SIGKILLed bridge)."""
    host, _, rest = owner.partition(":")
    pid, _, _ = rest.partition(":")
    if host != socket.gethostname()[:30] or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


class Leases:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def acquire(self, name: str, owner: str, seconds: float) -> bool:
        """Take or renew lease `name` for `owner` for `seconds`; False while another holds it."""
        now = utcnow()
        until = now + timedelta(seconds=seconds)
        with self.engine.begin() as conn:
            won = conn.execute(
                update(leases)
                .where(and_(leases.c.name == name, or_(leases.c.owner == owner, leases.c.expires_at < now)))
                .values(owner=owner, expires_at=until)
            )
            if won.rowcount == 1:
                return True
            held = conn.execute(select(leases.c.owner).where(leases.c.name == name)).first()
            if held is not None and owner_is_dead(held.owner):
                taken = conn.execute(
                    update(leases)
                    .where(and_(leases.c.name == name, leases.c.owner == held.owner))
                    .values(owner=owner, expires_at=until)
                )
                if taken.rowcount == 1:
                    return True
            if held is not None:
                return False
        try:
            with self.engine.begin() as conn:
                conn.execute(insert(leases).values(name=name, owner=owner, expires_at=until))
            return True
        except IntegrityError:
            return False  # someone else holds it (or took it a moment ago)

    def release(self, name: str, owner: str) -> None:
        """Give the lease up at once (a clean stop), so a spare takes over without waiting."""
        with self.engine.begin() as conn:
            conn.execute(delete(leases).where(and_(leases.c.name == name, leases.c.owner == owner)))

    def holder(self, name: str) -> tuple[str, datetime] | None:
        """(owner, expires_at) of a lease that has not run out, else None."""
        with self.engine.connect() as conn:
            row = conn.execute(select(leases.c.owner, leases.c.expires_at).where(leases.c.name == name)).first()
        if row is None or row.expires_at < utcnow():
            return None
        return row.owner, row.expires_at
