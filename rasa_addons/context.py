"""The dialogue state the understanding step reads beside the message.

Rasa's NLU components see only the message. Understanding a resident needs more: the entry
just answered (a follow-up such as "去哪里领" is about it), the numbered options on the
screen (a bare "二" picks one, "我今年65岁 能领吗" does not), the offer just made ("好"
accepts it), the form question being asked. Rasa's processor has the tracker when it parses
a message; this patch copies those few slots into the message's metadata under `dialogue`
for that parse only (the stored event keeps the metadata the channel sent).
"""

from __future__ import annotations

from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.processor import MessageProcessor
from rasa.shared.core.trackers import DialogueStateTracker

CONTEXT_KEY = "dialogue"
SLOTS = ("topic", "pending", "requested_slot")
RASA_PARSE = MessageProcessor._parse_message_with_graph


def dialogue_state(tracker: DialogueStateTracker) -> dict[str, Any]:
    """The slots the understanding step reads, and the active form."""
    state: dict[str, Any] = {name: tracker.get_slot(name) for name in SLOTS if name in tracker.slots}
    state["active_loop"] = tracker.active_loop_name
    return state


def _parse_with_context(
    self: MessageProcessor,
    message: UserMessage,
    tracker: DialogueStateTracker,
    only_output_properties: bool = True,
) -> dict[str, Any]:
    metadata = {**(message.metadata or {}), CONTEXT_KEY: dialogue_state(tracker)}
    with_context = UserMessage(
        text=message.text,
        output_channel=message.output_channel,
        sender_id=message.sender_id,
        parse_data=message.parse_data,
        input_channel=message.input_channel,
        message_id=message.message_id,
        metadata=metadata,
    )
    return RASA_PARSE(self, with_context, tracker, only_output_properties)


def install() -> None:
    """Parse every message with its dialogue state (idempotent)."""
    MessageProcessor._parse_message_with_graph = _parse_with_context  # type: ignore[method-assign]


def uninstall() -> None:
    MessageProcessor._parse_message_with_graph = RASA_PARSE  # type: ignore[method-assign]
