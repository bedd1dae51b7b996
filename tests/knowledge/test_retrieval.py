"""The retriever, lexical only (embed=None), on the real knowledge base."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from knowledge.base import KnowledgeBase
from knowledge.retrieval import OUT_OF_SCOPE, Params, Retriever

ROOT = Path(__file__).resolve().parents[2]
# One or two entries of every area, whose own title must come first.
OWN_TITLE_FIRST = [
    "leadership",
    "plan-key-tasks",
    "orphan-child-care-subsidy",
    "card-lost",
    "disability-dibao",
    "employment-security-fund",
    "home-delivered-teaching",
    "child-rehab-apply",
    "sports",
    "sign-language",
    "big-data",
    "county-dpf-contact",
]


def out_of_scope_examples() -> list[str]:
    doc = yaml.safe_load((ROOT / "data" / "nlu" / "out_of_scope.yml").read_text(encoding="utf-8"))
    block = next(item["examples"] for item in doc["nlu"] if item.get("intent") == OUT_OF_SCOPE)
    return [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]


@pytest.fixture(scope="module")
def retriever(kb: KnowledgeBase) -> Retriever:
    return Retriever(kb, out_of_scope_examples(), embed=None)


@pytest.mark.parametrize("key", OWN_TITLE_FIRST)
def test_an_entrys_title_ranks_it_first(retriever: Retriever, kb: KnowledgeBase, key: str) -> None:
    decision = retriever.decide(kb.by_key[key].title)
    first, second = decision.candidates[:2]
    assert (first.key, first.id) == (key, kb.by_key[key].id)
    assert first.score > second.score
    assert first.emb == 0.0  # lexical only


@pytest.mark.parametrize(
    ("question", "key"),
    [
        ("殘疾人證丟了怎麼補辦", "card-lost"),
        ("残疾正丢了怎么补办", "card-lost"),
        ("残疾孤弃儿童照料护理补帖", "orphan-child-care-subsidy"),
    ],
)
def test_traditional_characters_and_typos_still_rank_the_entry_first(
    retriever: Retriever, question: str, key: str
) -> None:
    assert retriever.decide(question).candidates[0].key == key


def test_candidates_cover_every_entry_but_not_the_out_of_scope_set(retriever: Retriever, kb: KnowledgeBase) -> None:
    candidates = retriever.decide("两项补贴").candidates
    assert sorted(c.key for c in candidates) == sorted(e.key for e in kb.entries)
    assert [c.score for c in candidates] == sorted((c.score for c in candidates), reverse=True)


def test_the_decision_dict_the_answer_action_reads(retriever: Retriever) -> None:
    as_dict = retriever.decide("残疾人证丢了怎么补办").as_dict(top=3)
    assert set(as_dict) == {"decision", "p_scope", "p_correct", "ranking"}
    assert as_dict["decision"] in {"answer", "clarify", "unknown", "out_of_scope"}
    assert [r["key"] for r in as_dict["ranking"]][0] == "card-lost"
    assert len(as_dict["ranking"]) == 3


def test_decide_from_thresholds(kb: KnowledgeBase) -> None:
    small = dataclasses.replace(kb, entries=kb.entries[:2], by_key={})
    retriever = Retriever(small, [], None, params=Params(t_scope=0.5, t_answer=0.7, t_clarify=0.4))
    assert retriever.decide_from(0.2, 0.99) == "out_of_scope"
    assert retriever.decide_from(0.9, 0.7) == "answer"
    assert retriever.decide_from(0.9, 0.5) == "clarify"
    assert retriever.decide_from(0.9, 0.1) == "unknown"


def test_params_round_trip() -> None:
    params = Params(alpha=0.0, scope_coef=[1.0, -2.0], t_answer=0.65, report={"loo_top1": 0.9})
    assert Params.from_json(params.to_json()) == params
