"""Action tests in the style of RasaHQ/financial-demo: a saved tracker in, events and messages out.

Trackers live in tests/data/trackers/*.json, as Rasa sends them to the action server.
Every action test gets a fresh SQLite database (questions are logged, tickets stored).
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from rasa.shared.core.domain import Domain
from rasa_sdk import Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from common.texts import say
from knowledge.base import KnowledgeBase, load
from tickets.store import TicketStore, default_store

ROOT = Path(__file__).resolve().parents[2]
TRACKERS = ROOT / "tests" / "data" / "trackers"
# The keys rasa_sdk's CollectingDispatcher puts in every message; the rest are template values.
MESSAGE_KEYS = ("text", "buttons", "elements", "custom", "template", "response", "image", "attachment")

LoadTracker = Callable[..., Tracker]


def tracker_state(name: str) -> dict[str, Any]:
    """The saved tracker `tests/data/trackers/<name>.json` as a dict (a fresh copy)."""
    return json.loads((TRACKERS / f"{name}.json").read_text(encoding="utf-8"))


def with_message(state: dict[str, Any], text: str, intent: str | None = None) -> dict[str, Any]:
    """The same tracker, but the resident's latest message says `text` (and has `intent`).

    A form's requested slot is filled from the text (from_text), so the slot and the
    trailing slot-candidate events carry `text` as well.
    """
    state = copy.deepcopy(state)
    parse = state["latest_message"]
    parse["text"] = text
    if intent:
        parse["intent"] = {"name": intent, "confidence": 0.9}
        parse["intent_ranking"] = [parse["intent"]]
    user = next(e for e in reversed(state["events"]) if e["event"] == "user")
    user["text"] = text
    user["parse_data"] = copy.deepcopy(parse)
    requested = state["slots"].get("requested_slot")
    if state.get("active_loop") and requested:
        state["slots"][requested] = text
        for event in reversed(state["events"]):
            if event["event"] != "slot":
                if event["event"] == "action":
                    continue
                break
            if event["name"] == requested:
                event["value"] = text
    return state


@pytest.fixture
def load_tracker() -> LoadTracker:
    """`load_tracker(name, text=None, intent=None, **slots)` → a rasa_sdk Tracker."""

    def build(name: str, text: str | None = None, intent: str | None = None, **slots: Any) -> Tracker:
        state = tracker_state(name)
        if text is not None:
            state = with_message(state, text, intent)
        state["slots"].update(slots)
        return Tracker.from_dict(state)

    return build


@pytest.fixture
def dispatcher() -> CollectingDispatcher:
    return CollectingDispatcher()


@pytest.fixture(scope="session")
def domain() -> DomainDict:
    return Domain.load(str(ROOT / "domain.yml")).as_dict()


@pytest.fixture(scope="session")
def kb() -> KnowledgeBase:
    return load()


@pytest.fixture(autouse=True)
def own_database(data_dir: Path) -> Path:
    """Every action test has its own data folder, so default_store() opens a new SQLite file."""
    return data_dir


@pytest.fixture
def store(own_database: Path) -> TicketStore:
    """The store the actions use (default_store), on this test's own SQLite file."""
    return default_store()


def message(
    response: str, buttons: list[dict[str, str]] | None = None, custom: dict[str, Any] | None = None, **values: Any
) -> dict[str, Any]:
    """A message exactly as CollectingDispatcher records `utter_message(response=..., ...)`."""
    return {
        "text": None,
        "buttons": buttons or [],
        "elements": [],
        "custom": custom or {},
        "template": response,
        "response": response,
        "image": None,
        "attachment": None,
        **values,
    }


def rendered(dispatcher: CollectingDispatcher) -> list[str]:
    """What the resident reads: each response of domain.yml filled with the action's values."""
    out = []
    for m in dispatcher.messages:
        if m["response"]:
            out.append(say(m["response"], **{k: v for k, v in m.items() if k not in MESSAGE_KEYS}))
    return out


def digit_buttons(n: int, start: int = 1) -> list[dict[str, str]]:
    return [{"title": str(i), "payload": str(i)} for i in range(start, start + n)]


@pytest.fixture
def expect() -> Callable[..., dict[str, Any]]:
    """`expect(response, buttons=None, custom=None, **values)`: see `message`."""
    return message


@pytest.fixture
def read_out() -> Callable[[CollectingDispatcher], list[str]]:
    """`read_out(dispatcher)`: the texts the resident reads (see `rendered`)."""
    return rendered


@pytest.fixture
def buttons() -> Callable[..., list[dict[str, str]]]:
    """`buttons(n, start=1)`: the digit keyboard "1".."n"."""
    return digit_buttons
