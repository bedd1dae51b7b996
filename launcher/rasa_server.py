"""The Rasa server process: `python -m launcher.rasa_server run …` is `rasa run …` with one fix.

Rasa 3.6 checks every answer of the action server with `jsonschema.validate`, which first
checks Rasa's large, constant response schema against the JSON Schema meta-schema and builds
a new validator, on every call: about 13 ms of CPU per action call on this machine, the
largest single cost of a form turn (see BENCHMARKS.md). `install()` builds that validator
once. Every answer is still validated against the same schema, and an invalid one still
raises jsonschema's ValidationError with Rasa's own explanation appended.
"""

from __future__ import annotations

import functools
import sys
from typing import Any

from jsonschema import exceptions, validators
from rasa.core.actions.action import RemoteAction
from rasa.shared.constants import DOCS_BASE_URL

_ORIGINAL = RemoteAction._validate_action_result
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


def install() -> None:
    """Use the compiled validator in this process (idempotent)."""
    RemoteAction._validate_action_result = _validate_action_result  # type: ignore[method-assign]


def uninstall() -> None:
    """Back to Rasa's own method (for tests)."""
    RemoteAction._validate_action_result = _ORIGINAL  # type: ignore[method-assign]


def main() -> None:
    """Run Rasa's command line (`rasa run …`) with the fix installed."""
    from rasa.__main__ import main as rasa_main

    install()
    sys.argv = ["rasa", *sys.argv[1:]]
    rasa_main()


if __name__ == "__main__":
    main()
