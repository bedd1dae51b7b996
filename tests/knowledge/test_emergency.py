"""The urgent reply's lines: short, sourced, and every number in its own source."""

from __future__ import annotations

import dataclasses

import pytest

from knowledge.base import EMERGENCY_MAX_CHARS, KnowledgeBase, KnowledgeError, _emergency_lines, load_emergency
from knowledge.truth import emergency_problems, source_problems

SITUATIONS = ("police", "medical", "fire", "flood", "missing", "crisis")


def test_every_situation_has_a_line_and_every_line_is_short() -> None:
    lines = load_emergency()
    keys = [line.key for line in lines]
    assert len(keys) == len(set(keys))
    for situation in SITUATIONS:
        assert situation in keys, situation
    for line in lines:
        assert 0 < len(line.text) <= EMERGENCY_MAX_CHARS, line.key


def test_every_number_is_in_its_source_and_no_source_is_third_party() -> None:
    lines = load_emergency()
    assert emergency_problems(lines) == []
    for line in lines:
        assert line.source.kind in ("官方", "官方转载", "媒体"), line.key
        assert source_problems(line.source) == [], line.key


@pytest.mark.parametrize(
    ("key", "number"), [("police", "110"), ("medical", "120"), ("fire", "119"), ("missing", "110"), ("crisis", "12356")]
)
def test_each_situation_gives_its_number(key: str, number: str) -> None:
    line = next(x for x in load_emergency() if x.key == key)
    assert number in line.text


def test_a_number_its_source_does_not_give_is_reported() -> None:
    line = next(x for x in load_emergency() if x.key == "fire")
    wrong = dataclasses.replace(line, text="着火了马上打12119。")
    assert emergency_problems((wrong,)) == ["emergency.yml: fire: '12119' is not in its sources"]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"key": "fire", "text": "着火了" * 9, "source": "fire-119"}, "at most 25"),
        ({"key": "fire", "text": "着火了打119。", "source": "baike-page"}, "unknown source"),
        ({"key": "fire", "text": "着火了打119。", "source": "plan-1"}, "not the plan"),
        ({"key": "Fire", "text": "着火了打119。", "source": "fire-119"}, "lower-case"),
        ({"key": "fire", "text": "", "source": "fire-119"}, "text is missing"),
    ],
)
def test_a_bad_line_is_refused(kb: KnowledgeBase, item: dict, message: str) -> None:
    with pytest.raises(KnowledgeError, match=message):
        _emergency_lines({"lines": [item]}, kb.sources)


def test_a_duplicated_key_is_refused(kb: KnowledgeBase) -> None:
    item = {"key": "fire", "text": "着火了打119。", "source": "fire-119"}
    with pytest.raises(KnowledgeError, match="duplicate"):
        _emergency_lines({"lines": [item, item]}, kb.sources)
