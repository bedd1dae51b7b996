"""rasa_addons/server.py: the compiled validator accepts and rejects exactly what Rasa's own does;
the action server's request differs from Rasa's only by leaving out events older than the recent turns."""

from __future__ import annotations

from collections.abc import Iterator
from types import ModuleType
from typing import Any

import pytest
from jsonschema import ValidationError
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, ActiveLoop, BotUttered, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa_sdk import Tracker

from common.config import ROOT

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


@pytest.fixture(scope="module")
def rasa_server() -> ModuleType:
    """rasa_addons.server, imported when a test here runs, not when the tests are collected: it
    brings in Rasa's core and TensorFlow (~5 s of CPU), which every worker of `make test-fast`
    would pay for while collecting."""
    from rasa_addons import server

    return server


def _outcome(rasa_server: ModuleType, result: dict[str, Any]) -> str:
    action = rasa_server.RemoteAction("action_answer", None)
    try:
        return str(action._validate_action_result(result))
    except ValidationError as e:
        return f"ValidationError: {e.message}"


@pytest.fixture
def installed(rasa_server: ModuleType) -> Iterator[None]:
    rasa_server.install()
    yield
    rasa_server.uninstall()


@pytest.mark.parametrize("result", VALID + INVALID)
def test_same_verdict_and_message_as_rasa(rasa_server: ModuleType, result: dict[str, Any]) -> None:
    rasa_server.uninstall()
    expected = _outcome(rasa_server, result)
    rasa_server.install()
    try:
        assert _outcome(rasa_server, result) == expected
    finally:
        rasa_server.uninstall()


def test_invalid_answers_are_still_rejected(rasa_server: ModuleType, installed: None) -> None:
    for result in INVALID:
        with pytest.raises(ValidationError, match="Failed to validate Action server response"):
            rasa_server.RemoteAction("action_answer", None)._validate_action_result(result)


def test_schema_is_compiled_once(rasa_server: ModuleType, installed: None) -> None:
    assert rasa_server.response_validator() is rasa_server.response_validator()
    assert rasa_server.RemoteAction._validate_action_result is not rasa_server.RASA_VALIDATE


@pytest.fixture(scope="module")
def domain() -> Domain:
    return Domain.load(str(ROOT / "domain.yml"))


def _conversation(domain: Domain, turns: int) -> DialogueStateTracker:
    """`turns` policy questions and answers, then a help form waiting for its phone slot."""
    events: list = []
    for i in range(turns):
        events += [
            ActionExecuted("action_listen"),
            UserUttered(f"问题{i}", intent={"name": "ask_policy", "confidence": 0.9}),
            ActionExecuted("action_answer"),
            BotUttered(f"回答{i}"),
            SlotSet("answer_sources", [f"m1.{i % 6 + 1}"]),
        ]
    events += [
        ActionExecuted("action_listen"),
        UserUttered("转人工", intent={"name": "human", "confidence": 0.99}),
        ActionExecuted("help_form"),
        ActiveLoop("help_form"),
        SlotSet("requested_slot", "phone"),
        ActionExecuted("action_listen"),
        UserUttered("13912345678", intent={"name": "nlu_fallback", "confidence": 1.0}),
        SlotSet("phone", "13912345678"),
    ]
    return DialogueStateTracker.from_events("s1", events, slots=domain.slots)


def _both(rasa_server: ModuleType, tracker: DialogueStateTracker, domain: Domain) -> tuple[dict, dict]:
    action = rasa_server.RemoteAction("validate_help_form", None)
    rasa_server.uninstall()
    theirs = action._action_call_format(tracker, domain)
    rasa_server.install()
    try:
        ours = action._action_call_format(tracker, domain)
    finally:
        rasa_server.uninstall()
    return theirs, ours


def test_short_conversation_request_is_exactly_rasas(rasa_server: ModuleType, domain: Domain) -> None:
    theirs, ours = _both(rasa_server, _conversation(domain, rasa_server.RECENT_TURNS - 3), domain)
    assert ours == theirs


def test_long_conversation_sends_only_recent_events(rasa_server: ModuleType, domain: Domain) -> None:
    tracker = _conversation(domain, 40)
    theirs, ours = _both(rasa_server, tracker, domain)
    sent = ours["tracker"]["events"]
    assert sum(e["event"] == "user" for e in sent) == rasa_server.RECENT_TURNS
    assert sent == theirs["tracker"]["events"][-len(sent) :]  # the same tail, unchanged
    assert len(sent) < len(theirs["tracker"]["events"]) / 3
    assert {k: v for k, v in ours["tracker"].items() if k != "events"} == {
        k: v for k, v in theirs["tracker"].items() if k != "events"
    }
    assert {k: v for k, v in ours.items() if k != "tracker"} == {k: v for k, v in theirs.items() if k != "tracker"}

    # what the action server's helpers read is the same from either request
    mine, full = Tracker.from_dict(ours["tracker"]), Tracker.from_dict(theirs["tracker"])
    assert mine.slots_to_validate() == full.slots_to_validate() == {"phone": "13912345678"}
    assert mine.slots == full.slots and mine.slots["answer_sources"] == ["m1.4"]
    assert mine.latest_message == full.latest_message
    assert mine.active_loop == full.active_loop and mine.active_loop.get("name") == "help_form"
    assert mine.get_latest_input_channel() == full.get_latest_input_channel()
    assert mine.latest_action_name == full.latest_action_name


def test_recent_events_counts_user_turns(rasa_server: ModuleType) -> None:
    events = [ActionExecuted("action_listen"), UserUttered("a"), BotUttered("x"), UserUttered("b"), BotUttered("y")]
    assert rasa_server.recent_events(events, turns=1) == events[3:]
    assert rasa_server.recent_events(events, turns=2) == events[1:]
    assert rasa_server.recent_events(events, turns=5) == events


def test_only_the_submit_reads_back_to_the_start_of_the_form_run(rasa_server: ModuleType, domain: Domain) -> None:
    tracker = _conversation(domain, 4)
    tracker.update_with_events([UserUttered(f"补充{i}") for i in range(rasa_server.RECENT_TURNS + 2)], domain)
    events = list(tracker.events)
    start = rasa_server.form_run_start(events)
    assert start is not None
    submit = rasa_server.recent_events(events, form_run=True)
    other = rasa_server.recent_events(events, form_run=False)
    assert submit[0] == events[start] and len(other) < len(submit)
    assert sum(isinstance(e, UserUttered) for e in other) == rasa_server.RECENT_TURNS


@pytest.mark.parametrize("token", ["-Kq3x_token_that_starts_with_a_dash", "plain_token_1234567890"])
def test_api_token_reaches_rasa_even_when_it_starts_with_a_dash(
    rasa_server: ModuleType, tmp_path, monkeypatch: pytest.MonkeyPatch, token: str
) -> None:
    """A generated token begins with "-" about one time in 32; Rasa's own parser must still read it."""
    from rasa.__main__ import create_argument_parser

    monkeypatch.setenv("XUNWU_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("RASA_TOKEN", token)
    argv = rasa_server.prepare(["run", "--port", "5999", "--enable-api", "-m", "models/x.tar.gz"])
    args = create_argument_parser().parse_args(argv)
    assert args.auth_token == token
    assert args.enable_api is True
    assert args.port == 5999


def test_a_token_on_the_command_line_is_refused(rasa_server: ModuleType, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("XUNWU_DATA_DIR", str(tmp_path))
    for argv in (["run", "--auth-token", "abc"], ["run", "--auth-token=abc"]):
        with pytest.raises(SystemExit) as stopped:
            rasa_server.prepare(argv)
        assert stopped.value.code == 2
