"""The NLU examples of ask_policy come from the knowledge entries and nowhere else."""

from __future__ import annotations

from pathlib import Path

import pytest
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.base import KnowledgeBase
from knowledge.importer import POLICY_INTENT, KnowledgeImporter, policy_examples

ROOT = Path(__file__).resolve().parents[2]


def knowledge_texts(kb: KnowledgeBase) -> list[str]:
    """Every entry's title and examples, in file order, each text once."""
    return list(dict.fromkeys(t for e in kb.entries for t in (e.title, *e.examples)))


@pytest.fixture(scope="module")
def project_nlu() -> TrainingData:
    """The NLU data `rasa train` sees: config.yml's importers over domain.yml and data/."""
    importer = TrainingDataImporter.load_from_config(
        str(ROOT / "config.yml"), str(ROOT / "domain.yml"), [str(ROOT / "data")]
    )
    return importer.get_nlu_data("zh")


def test_policy_examples_are_the_entries_titles_and_examples(kb: KnowledgeBase) -> None:
    expected = [(t, e.key) for e in kb.entries for t in (e.title, *e.examples)]
    assert policy_examples() == expected


def test_the_importer_yields_each_text_once_as_ask_policy(kb: KnowledgeBase) -> None:
    data = KnowledgeImporter().get_nlu_data("zh")
    assert [m.get("text") for m in data.intent_examples] == knowledge_texts(kb)
    assert {m.get("intent") for m in data.intent_examples} == {POLICY_INTENT}


def test_the_trained_nlu_gets_exactly_the_knowledge_texts_as_ask_policy(
    kb: KnowledgeBase, project_nlu: TrainingData
) -> None:
    """…and the few policy questions of data/nlu/policy.yml that belong to no entry."""
    from rasa.shared.nlu.training_data.loading import load_data

    generic = [m.get("text") for m in load_data("data/nlu/policy.yml").intent_examples]
    assert len(generic) > 50
    policy = [m.get("text") for m in project_nlu.intent_examples if m.get("intent") == POLICY_INTENT]
    assert sorted(policy) == sorted(knowledge_texts(kb) + generic)


def test_no_other_intent_shares_a_text_with_the_knowledge(kb: KnowledgeBase, project_nlu: TrainingData) -> None:
    others = {m.get("text"): m.get("intent") for m in project_nlu.intent_examples if m.get("intent") != POLICY_INTENT}
    assert {t: others[t] for t in knowledge_texts(kb) if t in others} == {}
    assert "out_of_scope" in set(others.values())  # the hand-written intents are there as well


def test_data_nlu_has_no_hand_copied_policy_examples(kb: KnowledgeBase) -> None:
    """Only data/nlu/policy.yml holds policy questions (ones no entry answers alone), none an entry's."""
    from rasa.shared.nlu.training_data.loading import load_data

    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        if path.name != "policy.yml":
            assert f"intent: {POLICY_INTENT}" not in path.read_text(encoding="utf-8"), path.name
    generic = {m.get("text") for m in load_data(str(ROOT / "data" / "nlu" / "policy.yml")).intent_examples}
    assert generic and not generic & set(knowledge_texts(kb))
