"""Which Telegram message in the staff group shows which ticket (for card edits and replies)."""

from __future__ import annotations

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Engine

from tickets.model import Ticket
from tickets.schema import staff_cards, tickets


class StaffCards:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def remember(self, chat_id: str, message_id: int, ticket_id: int) -> None:
        """Record that message `message_id` in `chat_id` is the card of `ticket_id` (idempotent)."""
        with self.engine.begin() as conn:
            exists = conn.execute(
                select(staff_cards.c.ticket_id).where(
                    and_(staff_cards.c.chat_id == chat_id, staff_cards.c.message_id == message_id)
                )
            ).first()
            if exists is None:
                conn.execute(insert(staff_cards).values(chat_id=chat_id, message_id=message_id, ticket_id=ticket_id))

    def ticket_for(self, chat_id: str, message_id: int) -> Ticket | None:
        """The ticket whose card is that message, if any."""
        with self.engine.connect() as conn:
            row = conn.execute(
                select(tickets)
                .join(staff_cards, staff_cards.c.ticket_id == tickets.c.id)
                .where(and_(staff_cards.c.chat_id == chat_id, staff_cards.c.message_id == message_id))
            ).first()
            return Ticket.from_row(row) if row else None

    def pressed_on(self, chat_id: str, message_id: int, text: str | None, number: str) -> bool:
        """May a button for ticket `number` act when pressed under this message?

        Only on that ticket's card: a remembered card must be the ticket's own (button data
        can be forged by a modified client; the message it was pressed on is Telegram's
        word). A card that was not remembered (its send timed out but it arrived) counts
        when its text names the ticket as a card does; it is remembered from then on.
        """
        ticket = self.ticket_for(chat_id, message_id)
        if ticket is not None:
            return ticket.number == number
        if not any(line.startswith(f"求助 {number}（") for line in (text or "").splitlines()):
            return False
        with self.engine.connect() as conn:
            row = conn.execute(select(tickets.c.id).where(tickets.c.number == number)).first()
        if row is None:
            return False
        self.remember(chat_id, message_id, row.id)
        return True

    def of_ticket(self, ticket_id: int) -> list[tuple[str, int]]:
        """Every (chat_id, message_id) that is a card of the ticket."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(staff_cards.c.chat_id, staff_cards.c.message_id).where(staff_cards.c.ticket_id == ticket_id)
            )
            return [(c, m) for c, m in rows]
