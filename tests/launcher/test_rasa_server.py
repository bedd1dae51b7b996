"""launcher/rasa_server.py: the compiled validator accepts and rejects exactly what Rasa's own does."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.core.actions.action import RemoteAction

from launcher import rasa_server

VALID: list[dict[str, Any]] = [
    {},
    {"events": [], "responses": []},
    {
        "events": [
            {"event": "slot", "name": "answer_sources", "value": ["m1.5", "m1.2"]},
            {"event": "active_loop", "name": None},
            {"event": "followup", "name": "action_listen"},
        ],
        "responses": [{"text": "护理补贴：……来源：规划第二部分。", "buttons": [{"title": "1", "payload": "1"}]}],
    },
]
INVALID: list[dict[str, Any]] = [
    {"events": "slot"},
    {"events": [{"name": "answer_sources"}]},
    {"events": [{"event": "slot", "name": 5}]},
    {"responses": "你好"},
]


def _outcome(result: dict[str, Any]) -> str:
    action = RemoteAction("action_answer", None)
    try:
        return str(action._validate_action_result(result))
    except ValidationError as e:
        return f"ValidationError: {e.message}"


@pytest.fixture
def installed() -> Iterator[None]:
    rasa_server.install()
    yield
    rasa_server.uninstall()


@pytest.mark.parametrize("result", VALID + INVALID)
def test_same_verdict_and_message_as_rasa(result: dict[str, Any]) -> None:
    rasa_server.uninstall()
    expected = _outcome(result)
    rasa_server.install()
    try:
        assert _outcome(result) == expected
    finally:
        rasa_server.uninstall()


def test_invalid_answers_are_still_rejected(installed: None) -> None:
    for result in INVALID:
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            RemoteAction("action_answer", None)._validate_action_result(result)


def test_schema_is_compiled_once(installed: None) -> None:
    assert rasa_server.response_validator() is rasa_server.response_validator()
    assert RemoteAction._validate_action_result is not rasa_server._ORIGINAL
