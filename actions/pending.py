"""What a bare digit, a yes or a no answers: the `pending` slot, and who resolves it.

A reply that asks a question with short answers sets the slot `pending` to a dict with a
`type` ("clarify": numbered policy options; "offer_staff": "shall I pass it on?";
"urgent_details": where the person in danger is). While it is set, the understanding step
reads a bare digit (1, １, 一, 第一个) as the intent `choose`, a yes as `affirm`, a no as
`deny`, and the rules send those to action_answer, which resolves its own types and hands
every other type to the handler registered here (`HANDLERS[type]`), so each feature keeps
its questions in its own module.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rasa_sdk import Tracker
from rasa_sdk.events import EventType
from rasa_sdk.executor import CollectingDispatcher

# (dispatcher, tracker, pending, intent, digit or None) → events
Handler = Callable[[CollectingDispatcher, Tracker, dict[str, Any], str, int | None], list[EventType]]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    """Register the handler of a pending type (a decorator)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register
