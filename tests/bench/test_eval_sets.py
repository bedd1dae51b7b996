"""The evaluation sets of bench/eval: well-formed, labelled with real IDs, and (nearly) not in the training data."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from bench.quality import EVAL, HOLDOUT, normalised, questions, training_texts
from knowledge.base import KnowledgeBase, load

SETS = [EVAL, HOLDOUT]
# Short everyday phrasings ("残保金是什么") are sometimes written word for word by both the
# knowledge writers and the evaluation writers; bench.quality reports them and the figures
# without them. More than this share would mean a set leaked into the training data.
MAX_OVERLAP = 0.10


@pytest.fixture(scope="module")
def kb() -> KnowledgeBase:
    return load()


@pytest.fixture(scope="module")
def seen() -> set[str]:
    return training_texts()


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_labels_and_difficulties(path: Path, kb: KnowledgeBase) -> None:
    items = questions(path)
    assert len(items) >= 100
    assert {i["id"] for i in items} <= set(kb.ids) | {"out_of_scope"}
    assert {i["difficulty"] for i in items} <= {"easy", "medium", "hard"}
    assert all(isinstance(i["q"], str) and i["q"].strip() for i in items)
    assert sum(i["id"] == "out_of_scope" for i in items) >= 20


@pytest.mark.parametrize("path", SETS, ids=lambda p: p.name)
def test_few_questions_are_training_examples(path: Path, seen: set[str]) -> None:
    items = questions(path)
    overlap = [i["q"] for i in items if normalised(i["q"]) in seen]
    assert len(overlap) <= MAX_OVERLAP * len(items), f"{path.name}: {len(overlap)} overlaps, e.g. {overlap[:5]}"


def test_normalising_ignores_spaces_and_punctuation_only() -> None:
    assert normalised("残保金 是什么？") == normalised("残保金是什么") != normalised("残保金是啥")


def test_the_held_out_set_is_mostly_new_questions() -> None:
    first = {normalised(i["q"]) for i in questions(EVAL)}
    held = questions(HOLDOUT)
    shared = [i["q"] for i in held if normalised(i["q"]) in first]
    assert len(shared) <= MAX_OVERLAP * len(held), shared[:5]


def test_sets_are_plain_yaml_lists() -> None:
    for path in SETS:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
        assert set(doc) == {"questions"}, path.name
