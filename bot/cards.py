"""A ticket's card in the staff group: its text (tickets/views.py) and its buttons."""

from __future__ import annotations

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from common.texts import say
from tickets.model import Ticket
from tickets.numbers import normalise_number
from tickets.views import card_text

__all__ = ["BUTTON_ACTIONS", "card_markup", "card_text", "parse_button"]

# callback data "claim:XW-…" / "ask:XW-…" / "close:XW-…"
BUTTON_ACTIONS = ("claim", "ask", "close")


def card_markup(ticket: Ticket) -> InlineKeyboardMarkup | None:
    """认领 while new, 追问 (ask the resident) and 已解决 until closed, no buttons after."""
    claim = InlineKeyboardButton(say("utter_word_claim"), callback_data=f"claim:{ticket.number}")
    ask = InlineKeyboardButton(say("utter_word_ask"), callback_data=f"ask:{ticket.number}")
    close = InlineKeyboardButton(say("utter_word_resolve"), callback_data=f"close:{ticket.number}")
    if ticket.state == "new":
        return InlineKeyboardMarkup([[claim, ask, close]])
    if ticket.state in ("claimed", "answered"):
        return InlineKeyboardMarkup([[ask, close]])
    return None


def parse_button(data: str | None) -> tuple[str, str] | None:
    """Callback data → (action, ticket number); None for anything a card does not send."""
    action, _, raw = (data or "").partition(":")
    number = normalise_number(raw) if action in BUTTON_ACTIONS and raw.upper().startswith("XW") else ""
    return (action, number) if number else None
