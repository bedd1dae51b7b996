"""The reliability suite's short form (bench/reliability.py; the long form is `make bench`):
the real processes under the supervisor, a local Bot API, residents asking for help while
processes are killed and Telegram fails; bad REST requests and updates; the security checks.
Nothing lost, nothing doubled, no orphan, no crash, no 5xx, a card at most twice."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import reliability

pytestmark = pytest.mark.integration


def test_the_short_fault_runs_lose_and_double_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    result = reliability.run(reliability.SHORT, tmp_path / "data")
    print("\n" + reliability.markdown(result))
    assert len(result["rows"]) == 11
    problems = list(reliability.rows_ok(result))
    assert not problems, "\n".join(problems)
