"""What the handlers share at run time (`context.bridge`): settings, the ticket store, the
Rasa client, the rate limiter, the deliverer; and the Telegram sender ids."""

from __future__ import annotations

import time
from collections import defaultdict, deque
from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

from common.config import Settings
from common.rasa_client import RasaClient
from tickets.store import TicketStore

if TYPE_CHECKING:
    from bot.delivery import Deliverer

RECENT_MESSAGES = 5


def sender_id(chat_id: int, user_id: int) -> str:
    """The Rasa sender id of a Telegram person in a chat: `tg:<chat_id>:<user_id>`."""
    return f"tg:{chat_id}:{user_id}"


def parse_sender(sender: str) -> tuple[int, int] | None:
    """`tg:<chat>:<user>` → (chat_id, user_id); None for senders that are not Telegram."""
    parts = sender.split(":")
    if len(parts) != 3 or parts[0] != "tg":
        return None
    try:
        return int(parts[1]), int(parts[2])
    except ValueError:
        return None


class Verdict(Enum):
    """What the rate limiter says about one message."""

    ALLOW = "allow"
    NOTIFY = "notify"  # over the limit: tell the person (once per window)
    DROP = "drop"  # over the limit, already told


class RateLimiter:
    """At most `limit` accepted messages per person in any sliding `window` seconds."""

    def __init__(self, limit: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = max(1, limit)
        self.window = window
        self.clock = clock
        self._accepted: dict[int, deque[float]] = defaultdict(deque)
        self._told: dict[int, float] = {}

    def check(self, key: int) -> Verdict:
        now = self.clock()
        seen = self._accepted[key]
        while seen and now - seen[0] >= self.window:
            seen.popleft()
        if len(seen) < self.limit:
            seen.append(now)
            return Verdict.ALLOW
        told = self._told.get(key)
        if told is None or now - told >= self.window:
            self._told[key] = now
            return Verdict.NOTIFY
        return Verdict.DROP


@dataclass
class Bridge:
    """Run-time state of one bridge process (`BridgeApplication.bridge`, not persisted)."""

    cfg: Settings
    store: TicketStore
    limiter: RateLimiter
    rasa: RasaClient
    deliverer: Deliverer | None = None
    _recent: dict[str, deque[str]] = field(default_factory=dict)
    # sender → the ticket the bridge stored for them while Rasa is down (this outage)
    down_tickets: dict[str, str] = field(default_factory=dict)

    def remember(self, sender: str, text: str) -> None:
        """Keep a person's last few messages (for a help request while Rasa is down)."""
        self._recent.setdefault(sender, deque(maxlen=RECENT_MESSAGES)).append(text)

    def recent(self, sender: str) -> list[str]:
        return list(self._recent.get(sender, ()))

    def wake_deliverer(self) -> None:
        """Deliver queued messages now instead of at the next tick."""
        if self.deliverer is not None:
            self.deliverer.wake()
