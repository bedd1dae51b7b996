"""Truth checks: every figure an answer says is in its sources, and amounts are dated and hedged."""

from __future__ import annotations

import copy
import dataclasses
from pathlib import Path

import pytest
import yaml

from knowledge.base import COUNTY_CAVEAT, ENTRIES_DIR, MONEY_RE, Entry, KnowledgeBase, KnowledgeError, _entry
from knowledge.truth import all_problems, claims, entry_problems


def with_answer(entry: Entry, extra: str) -> Entry:
    return dataclasses.replace(entry, answer=entry.answer + extra)


def raw_entry(key: str) -> tuple[dict, str]:
    """The entry `key` as written in knowledge/entries (a copy), and its file name."""
    for path in sorted(ENTRIES_DIR.glob("*.yml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8"))["entries"]:
            if raw["key"] == key:
                return copy.deepcopy(raw), path.name
    raise KeyError(key)


def test_the_knowledge_base_has_no_truth_problems(kb: KnowledgeBase, fact_sheet: Path) -> None:
    assert all_problems(kb, fact_sheet) == []
    assert all_problems(kb) == []  # the default fact sheet is the shared one


def test_claims_finds_numbers_numerals_and_document_numbers() -> None:
    found = claims("国发〔2015〕52号文件规定，覆盖率100%，有效期十年，电话0797-2831234，见 https://a.cn/1")
    assert "国发〔2015〕52号" in found
    assert "0797-2831234" in found
    assert {"100", "十年"} <= set(found)
    assert "1" not in found  # numbers inside links are not claims


def test_a_number_not_in_the_sources_is_reported(kb: KnowledgeBase) -> None:
    entry = kb.by_key["subsidies-amount"]
    bad = with_answer(entry, "寻乌县现在是每人每月999元。")
    assert entry_problems(entry) == []
    assert entry_problems(bad) == [f"{entry.file}: subsidies-amount: '999' is not in its sources"]

    broken = dataclasses.replace(kb, entries=(bad, *[e for e in kb.entries if e is not entry]), by_key={})
    assert all_problems(broken) == [f"{entry.file}: subsidies-amount: '999' is not in its sources"]


@pytest.mark.parametrize(
    ("extra", "claim"),
    [
        ("残疾人证有效期十五年。", "十五年"),
        ("依据是国发〔2099〕7号文件。", "国发〔2099〕7号"),
        ("县残联电话0797-2899999。", "0797-2899999"),
    ],
)
def test_numerals_document_numbers_and_phones_not_in_the_sources_are_reported(
    kb: KnowledgeBase, extra: str, claim: str
) -> None:
    entry = kb.by_key["two-subsidies"]
    problems = entry_problems(with_answer(entry, extra))
    assert problems
    assert all(p.startswith(f"{entry.file}: two-subsidies: ") for p in problems)
    assert any(claim in p for p in problems), problems


def test_a_figure_that_is_in_the_sources_is_accepted(kb: KnowledgeBase) -> None:
    entry = kb.by_key["two-subsidies"]
    assert entry_problems(with_answer(entry, "国发〔2015〕52号文件；覆盖率100%。")) == []


def test_figures_in_detail_and_next_step_are_checked_too(kb: KnowledgeBase) -> None:
    entry = kb.by_key["two-subsidies"]
    assert entry_problems(dataclasses.replace(entry, detail=entry.detail + "惠及3333万人。"))
    assert entry_problems(dataclasses.replace(entry, next_step=entry.next_step + "拨打12385。"))


def test_amounts_carry_as_of_and_the_county_caveat(kb: KnowledgeBase) -> None:
    with_amounts = [e for e in kb.entries if any(MONEY_RE.search(t) for t in e.texts)]
    assert {e.key for e in with_amounts} >= {"subsidies-amount"}
    for entry in with_amounts:
        assert entry.as_of, entry.key
        assert COUNTY_CAVEAT in " ".join(entry.texts), entry.key


def test_an_amount_without_as_of_or_caveat_is_refused(kb: KnowledgeBase) -> None:
    raw, file = raw_entry("subsidies-amount")
    assert _entry(raw, file, kb.sources, kb.ids) == kb.by_key["subsidies-amount"]

    undated = {k: v for k, v in raw.items() if k != "as_of"}
    with pytest.raises(KnowledgeError, match="as_of"):
        _entry(undated, file, kb.sources, kb.ids)

    unhedged = {**raw, "answer": raw["answer"].replace(COUNTY_CAVEAT, "")}
    assert COUNTY_CAVEAT not in unhedged["answer"]
    with pytest.raises(KnowledgeError, match=COUNTY_CAVEAT):
        _entry(unhedged, file, kb.sources, kb.ids)


def test_an_entry_with_an_unknown_id_or_source_is_refused(kb: KnowledgeBase) -> None:
    raw, file = raw_entry("card-lost")
    with pytest.raises(KnowledgeError, match="44 knowledge IDs"):
        _entry({**raw, "id": "m9.1"}, file, kb.sources, kb.ids)
    with pytest.raises(KnowledgeError, match="unknown source"):
        _entry({**raw, "sources": ["baike-page"]}, file, kb.sources, kb.ids)


def test_the_command_fails_when_the_fact_sheet_is_missing(tmp_path: Path) -> None:
    """`python -m knowledge.truth` never says "ok" for checks it could not run."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XUNWU_SHARED_DIR": str(tmp_path / "no-shared")}
    proc = subprocess.run([sys.executable, "-m", "knowledge.truth"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "missing" in proc.stdout and "ok" not in proc.stdout
