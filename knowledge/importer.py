"""Rasa training-data importer: the policy-question examples come from `knowledge/`.

`config.yml` lists this importer beside Rasa's own file importer, so `rasa train`,
`rasa data validate` and `rasa test` all see the entries' examples as the intent
`ask_policy`. Nothing about policy is copied into `data/nlu/` by hand.
"""

from __future__ import annotations

from typing import Any

from rasa.shared.core.domain import Domain
from rasa.shared.core.training_data.structures import StoryGraph
from rasa.shared.importers.importer import TrainingDataImporter
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.base import load

POLICY_INTENT = "ask_policy"


def policy_examples() -> list[tuple[str, str]]:
    """(text, entry key) for every example and title in the knowledge base."""
    out = []
    for entry in load().entries:
        for text in (entry.title, *entry.examples):
            out.append((text, entry.key))
    return out


class KnowledgeImporter(TrainingDataImporter):
    """Adds one NLU example of `ask_policy` per knowledge example; nothing else."""

    def __init__(
        self,
        config_file: str | None = None,
        domain_path: str | None = None,
        training_data_paths: Any = None,
        **kwargs: Any,
    ) -> None:
        self.config_file = config_file

    def get_nlu_data(self, language: str | None = "en") -> TrainingData:
        seen: set[str] = set()
        messages = []
        for text, _key in policy_examples():
            if text not in seen:
                seen.add(text)
                messages.append(Message.build(text=text, intent=POLICY_INTENT))
        return TrainingData(training_examples=messages)

    def get_domain(self) -> Domain:
        return Domain.empty()

    def get_stories(self, exclusion_percentage: int | None = None) -> StoryGraph:
        return StoryGraph([])

    def get_conversation_tests(self) -> StoryGraph:
        return StoryGraph([])

    def get_config(self) -> dict:
        return {}

    def get_config_file_for_auto_config(self) -> str | None:
        return None
