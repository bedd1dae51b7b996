"""The Rasa server process: `python -m rasa_addons.server run …` is `rasa run …` with two fixes,
started safely.

Before Rasa starts, and before its core (TensorFlow) is even imported, so that a bad
setting stops the process in about a second (`prepare`): files it creates are private
(umask 077); the configuration is checked (a bad variable stops it, naming the
variable); the tracker store and the lock store must answer (TRACKER_STORE_URL,
LOCK_STORE_URL: otherwise one line naming the variable, exit status 2, instead of a
traceback later); endpoints.yml's variables are set (ACTION_ENDPOINT_URL, ACTIONS_TOKEN);
request bodies are capped (SANIC_REQUEST_MAX_SIZE, 1 MB); and the HTTP API is switched on
only when there is a RASA_TOKEN (from the environment or `<data>/secrets/`), which is
handed to Rasa inside this process — never on the command line, where `ps` would show it
to every local user.

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
   walk back from the end. One exception (`form_run_start`): the window reaches back to
   the start of the last two form runs (at most FORM_RUN_TURNS user turns) for the submit
   (FORM_RUN_ACTIONS), so it can tell which run its answers come from (its idempotency key,
   actions/help_form.py).
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

import rasa
from jsonschema import exceptions, validators
from rasa.shared.constants import DOCS_BASE_URL
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActiveLoop, Event, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker, EventVerbosity

from common.config import settings_or_exit

if TYPE_CHECKING:
    from rasa.core.actions.action import RemoteAction

RECENT_TURNS = 10  # user turns of events the action server receives
FORM_RUN_TURNS = 60  # at most this far back for the start of a form run
_HINT = (
    ". Failed to validate Action server response from API, make sure your response from the Action "
    f"endpoint is valid. For more information about the format visit {DOCS_BASE_URL}/custom-actions"
)


@functools.cache
def _rasa_core() -> tuple[type[RemoteAction], Any, Any]:
    """Rasa's RemoteAction and its own two methods (kept for uninstall()), imported on first use:
    Rasa's core brings in TensorFlow (seconds of CPU), and `prepare` stops a server with a bad
    configuration or an unreachable store before that."""
    from rasa.core.actions.action import RemoteAction

    return RemoteAction, RemoteAction._validate_action_result, RemoteAction._action_call_format


_LAZY = {"RemoteAction": 0, "RASA_VALIDATE": 1, "RASA_CALL_FORMAT": 2}


def __getattr__(name: str) -> Any:
    """`RemoteAction`, and Rasa's own methods `RASA_VALIDATE`, `RASA_CALL_FORMAT` (see _rasa_core)."""
    if name in _LAZY:
        return _rasa_core()[_LAZY[name]]
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@functools.cache
def response_validator() -> Any:
    """Rasa's action-response schema, checked and compiled once per process."""
    spec = _rasa_core()[0].action_response_format_spec()
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


# The actions that read back to the start of the form run (the submit's idempotency key);
# every other action gets RECENT_TURNS only, so a long conversation does not slow each turn.
FORM_RUN_ACTIONS = frozenset({"action_submit_help"})


def recent_events(events: Iterable[Event], turns: int = RECENT_TURNS, form_run: bool = True) -> list[Event]:
    """The events from the `turns`-th last user message on (all of them when there are fewer),
    or, with `form_run`, from the start of the latest form run if that is earlier (`form_run_start`)."""
    events = list(events)
    seen = 0
    start = 0
    for i in range(len(events) - 1, -1, -1):
        if isinstance(events[i], UserUttered):
            seen += 1
            if seen == turns:
                start = i
                break
    run = form_run_start(events) if form_run else None
    return events[min(start, run) if run is not None else start :]


def form_run_start(events: Sequence[Event], turns: int = FORM_RUN_TURNS, runs: int = 2) -> int | None:
    """The index of the `runs`-th latest loop activation (`ActiveLoop(name)`), or of the
    earliest one found, within `turns` user turns back; None when there is none."""
    seen = 0
    found = None
    for i in range(len(events) - 1, -1, -1):
        event = events[i]
        if isinstance(event, UserUttered):
            seen += 1
            if seen > turns:
                break
        elif isinstance(event, ActiveLoop) and event.name is not None:
            found = i
            runs -= 1
            if runs == 0:
                break
    return found


def _action_call_format(self: RemoteAction, tracker: DialogueStateTracker, domain: Domain) -> dict[str, Any]:
    """Rasa's request to the action server, with the events of the recent turns only."""
    state = tracker.current_state(EventVerbosity.NONE)
    events = recent_events(tracker.events, form_run=self._name in FORM_RUN_ACTIONS)
    state["events"] = [e.as_dict() for e in events]
    result = {"next_action": self._name, "sender_id": tracker.sender_id, "tracker": state, "version": rasa.__version__}
    if not self._is_selective_domain_enabled() or domain.does_custom_action_explicitly_need_domain(self.name()):
        result["domain"] = domain.as_dict()
    return result


def install() -> None:
    """Use both fixes in this process (idempotent)."""
    from rasa_addons import context

    remote_action, _, _ = _rasa_core()
    remote_action._validate_action_result = _validate_action_result  # type: ignore[method-assign]
    remote_action._action_call_format = _action_call_format  # type: ignore[method-assign]
    context.install()  # the understanding step reads the dialogue state (rasa_addons/context.py)


def uninstall() -> None:
    """Back to Rasa's own methods (for tests)."""
    from rasa_addons import context

    remote_action, validate, call_format = _rasa_core()
    remote_action._validate_action_result = validate  # type: ignore[method-assign]
    remote_action._action_call_format = call_format  # type: ignore[method-assign]
    context.uninstall()


# Request bodies Rasa accepts (Sanic's default is 100 MB): messages are at most a few KB.
REQUEST_MAX_SIZE = 1_000_000
REACH_SECONDS = 20.0


def prepare(argv: list[str]) -> list[str]:
    """Check and set what Rasa needs; the command line to run (with the API token added in-process)."""
    from common.logs import private_files
    from common.secrets import read_secret

    private_files()
    cfg = settings_or_exit()
    from rasa_addons import lock_store, tracker_store  # Rasa's stores: after the configuration is known good

    os.environ.setdefault("ACTION_ENDPOINT_URL", cfg.actions_url)
    os.environ["ACTIONS_TOKEN"] = read_secret(cfg, "actions_token")
    os.environ.setdefault("SANIC_REQUEST_MAX_SIZE", str(REQUEST_MAX_SIZE))
    for variable, check in (
        ("TRACKER_STORE_URL", tracker_store.check_reachable),
        ("LOCK_STORE_URL", lock_store.check_reachable),
    ):
        problem = check(min(REACH_SECONDS, max(2.0, cfg.db_retry_seconds)))
        if problem:
            from common.config import hide_password

            value = getattr(cfg, variable.lower())
            print(f"error: {variable}={hide_password(value)!r} cannot be reached: {problem}", file=sys.stderr)
            raise SystemExit(2)
    argv = [a for a in argv if a != "--enable-api"]
    if any(a == "--auth-token" or a.startswith("--auth-token=") for a in argv):
        print(
            "error: pass RASA_TOKEN by environment or in <data>/secrets/rasa_token, not --auth-token", file=sys.stderr
        )
        raise SystemExit(2)
    token = read_secret(cfg, "rasa_token")
    if token and argv[:1] == ["run"]:
        # one argument with "=": a token may begin with "-" (token_urlsafe: 1 in 32), which
        # argparse would take for an option if it stood alone
        argv += ["--enable-api", f"--auth-token={token}"]
    return argv


def main() -> None:
    """Run Rasa's command line (`rasa run …`) with the fixes installed (Rasa's core is imported
    after `prepare`, which stops a misconfigured server in about a second)."""
    argv = prepare(sys.argv[1:])
    from rasa.__main__ import main as rasa_main

    install()
    sys.argv = ["rasa", *argv]  # this process's copy: /proc/<pid>/cmdline keeps the original
    rasa_main()


if __name__ == "__main__":
    main()
