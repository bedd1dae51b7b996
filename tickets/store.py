"""Where help requests (tickets) live: one `TicketStore` per database.

States: new → claimed → answered → closed, and closed → reopened (= new again). Every change
writes an audit event (tickets/audit.py) in the same transaction, and every message to
staff or resident is an outbox row in that transaction too (tickets/outbox.py), so nothing
is promised that is not stored. Concurrent claims: one conditional UPDATE, exactly one wins.

    store.create     files a ticket, once a submit    tickets/filing.py
    store.claim / reply / close / reopen …            tickets/lifecycle.py
    store.get / for_sender / history …                tickets/queries.py
    store.outbox     the queue the bridge delivers    tickets/outbox.py
    store.cards      staff-group message → ticket     tickets/staff_cards.py
    store.questions  the question log of the report   tickets/questions.py
"""

from __future__ import annotations

from functools import lru_cache

from sqlalchemy.engine import Engine

from tickets.lifecycle import Lifecycle
from tickets.migrations import migrate
from tickets.model import STATES, Ticket, TicketError
from tickets.outbox import Outbox
from tickets.questions import QuestionLog
from tickets.schema import make_engine
from tickets.staff_cards import StaffCards

__all__ = ["STATES", "Ticket", "TicketError", "TicketStore", "default_store", "store_for"]


class TicketStore(Lifecycle):
    """Every ticket operation over one database (migrated to the current version on opening)."""

    def __init__(self, engine: Engine) -> None:
        migrate(engine)
        super().__init__(engine)
        self.outbox = Outbox(engine)
        self.cards = StaffCards(engine)
        self.questions = QuestionLog(engine)


@lru_cache(maxsize=4)
def store_for(url: str) -> TicketStore:
    """One store (and engine) per database URL in a process."""
    return TicketStore(make_engine(url))


def default_store() -> TicketStore:
    """The store for the configured DATABASE_URL."""
    from common.config import settings

    return store_for(settings().database_url)
