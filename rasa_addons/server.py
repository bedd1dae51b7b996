"""The Rasa server process: `python -m rasa_addons.server run …` is `rasa run …` with two fixes.

It first checks the configuration (a bad variable stops it, naming the variable) and sets
ACTION_ENDPOINT_URL, which endpoints.yml reads, from XUNWU_HOST and ACTIONS_PORT.

Both were found by profiling (BENCHMARKS.md) and both keep Rasa's behaviour otherwise.

1. Rasa 3.6 checks every answer of the action server with `jsonschema.validate`, which
   first checks Rasa's large, constant response schema against the JSON Schema meta-schema
   and builds a new validator, on every call: about 13 ms of CPU per action call here, the
   largest single cost of a form turn. The validator is now built once. Every answer is
   still validated against the same schema, and an invalid one still raises jsonschema's
   ValidationError with Rasa's own explanation appended.
2. Rasa sends the action server the whole session's events on every action call, so the
   cost of a turn (encoding on Rasa's side, decoding on the action server's) grows with the
   conversation. The request now carries the events of the last RECENT_TURNS user turns;
   slots, the latest message, the active form and the rest of the tracker state are sent
   whole, as before. The actions of this project read nothing older (they keep what they
   need in slots), and rasa_sdk's helpers (slots_to_validate, latest input channel …) only
   walk back from the end.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable
from typing import Any

import rasa
from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from common.config import settings_or_exit
from rasa_addons import context

RECENT_TURNS = 10  # user turns of events the action server receives
RASA_VALIDATE = RemoteAction._validate_action_result  # Rasa's own methods, kept for uninstall()
RASA_CALL_FORMAT = RemoteAction._action_call_format
_HINT = (
    ". Failed to validate Action server response from API, make sure your response from the Action "
    f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
)


@functools.cache
def response_validator() -> Any:
    """Rasa's action-response schema, checked and compiled once per process."""
    spec = RemoteAction.action_response_format_spec()
    cls = validators.validator_for(spec)
    cls.check_schema(spec)
    return cls(spec)


def _validate_action_result(self: RemoteAction, result: dict[str, Any]) -> bool:
    """Same contract as RemoteAction._validate_action_result, with the compiled validator."""
    error = exceptions.best_match(response_validator().iter_errors(result))
    if error is not None:
        error.message += _HINT
        raise error
    return True


def recent_events(events: Iterable[Event], turns: int = RECENT_TURNS) -> list[Event]:
    """The events from the `turns`-th last user message on (all of them when there are fewer)."""
    events = list(events)
    seen = 0
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], UserUttered):
            seen += 1
            if seen == turns:
                return events[i:]
    return events


def _action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
    """Rasa's request to the action server, with the events of the recent turns only."""
    state = tracker.current_state(EventVerbosity.NONE)
    state["events"] = [e.as_dict() for e in recent_events(tracker.events)]
    result = {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": state, "version": rasa.__version__}
    if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
        result["domain"] = domain.as_dict()
    return result


def install() -> None:
    """Use both fixes in this process (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    RemoteAction._action_call_format = _action_call_format  # type: ignore[method-assign]
    context.install()  # the understanding step reads the dialogue state (rasa_addons/context.py)


def uninstall() -> None:
    """Back to Rasa's own methods (for tests)."""
    RemoteAction._validate_action_result = RASA_VALIDATE  # type: ignore[method-assign]
    RemoteAction._action_call_format = RASA_CALL_FORMAT  # type: ignore[method-assign]
    context.uninstall()


def main() -> None:
    """Run Rasa's command line (`rasa run …`) with the fixes installed."""
    from rasa.__main__ import main as rasa_main

    os.environ.setdefault("ACTION_ENDPOINT_URL", settings_or_exit().actions_url)
    install()
    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
