"""While Rasa is down: a resident who asks for a person (`wants_person`, HELP_WORDS) gets a
ticket stored by the bridge itself, with their last messages (`record_while_down`).
"""

from __future__ import annotations

import asyncio
import logging

from bot.conversation import OTHER_CATEGORY
from bot.runtime import Bridge
from common.choices import fold
from common.texts import say

log = logging.getLogger(__name__)

# Words that ask for a person; while Rasa is down the bridge records the request itself.
HELP_WORDS = ("转人工", "人工", "求助")


def wants_person(text: str) -> bool:
    folded = fold(text)
    return any(word in folded for word in HELP_WORDS)


async def record_while_down(b: Bridge, sender: str, first_name: str, text: str, message_id: int = 0) -> str:
    """Store a help request with the person's last messages; the sentence to answer with.

    Each request is its own: the text always goes with it, never into an older ticket. A
    second one in the same outage is added to the ticket of the first (a note staff see),
    and one Telegram message is stored once even if its update is handled twice.
    """
    from tickets.model import submit_key

    earlier = [m for m in b.recent(sender) if not wants_person(m)]
    try:
        number = b.down_tickets.get(sender)
        if number is not None:
            ticket = await asyncio.to_thread(b.store.add_resident_message, number, sender, text)
            log.info("added to ticket %s by the bridge for %s (Rasa still down)", ticket.number, sender)
            b.wake_deliverer()
            return say("utter_bot_down_recorded", ticket=ticket.number)
        description = say("utter_staff_desc_down", messages="；".join([*earlier, text]))
        ticket = await asyncio.to_thread(
            lambda: b.store.create(
                sender,
                contact_name=(first_name or "")[:64],
                phone="",
                township="",
                category=OTHER_CATEGORY,
                description=description,
                key=submit_key(sender, f"down:{message_id}") if message_id else None,
            )
        )
    except Exception:  # the person must hear that it failed
        log.exception("could not store a help request while Rasa is down")
        return say("utter_ticket_failed")
    b.down_tickets[sender] = ticket.number
    log.info("ticket %s stored by the bridge for %s (Rasa down)", ticket.number, sender)
    b.wake_deliverer()
    return say("utter_bot_down_recorded", ticket=ticket.number)
