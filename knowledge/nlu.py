"""The Rasa pipeline step that reads each message (knowledge/understanding.py does the work).

It is the only intent classifier in `config.yml`. It trains on the entries' examples
(knowledge/) and on the other intents' examples Rasa hands it (data/nlu/), reads each message
with the dialogue state that rasa_addons/context.py puts in its metadata, and sets the
intent (a contract name, or `ask_policy`) and, under `knowledge`, the reading: decision
(answer / clarify / unknown / out_of_scope), the entries and knowledge IDs ranked, the
options to offer, the kinds of danger named. The actions read it from the tracker.
"""

from __future__ import annotations

import json
import logging
import pickle
from collections import OrderedDict
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.base import load
from knowledge.understanding import Context, Embed, Params, Reading, Understanding

logger = logging.getLogger(__name__)

KNOWLEDGE_KEY = "knowledge"
RECENT_READINGS = 2048


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class KnowledgeRanker(GraphComponent, IntentClassifier):
    """Reads each message: its intent and, for a policy question, the entry and what to do."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        # "model": path of the sentence-transformers model (empty: the configured default);
        # the rest are knowledge.understanding.Params (the decision thresholds).
        return {"model": ""}

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        understanding: Understanding | None = None,
    ) -> None:
        self.config = config
        self._storage = model_storage
        self._resource = resource
        self.understanding = understanding
        self._recent: OrderedDict[tuple[str, str], Reading] = OrderedDict()

    @staticmethod
    def _embed(config: dict[str, Any], cached: bool = False) -> Embed:
        """The sentence embedding (imported late: it brings torch)."""
        from knowledge.embedding import embedder

        model = embedder(config.get("model") or None)
        return model.encode_cached if cached else model.encode

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> KnowledgeRanker:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        examples = [(m.get(TEXT), m.get(INTENT)) for m in training_data.intent_examples if m.get(INTENT)]
        kb = load()
        understanding = Understanding.train(
            kb, examples, self._embed(self.config, cached=True), Params.from_config(self.config)
        )
        with self._storage.write_to(self._resource) as folder:
            (folder / "understanding.pkl").write_bytes(pickle.dumps(understanding.state()))
            (folder / "index.json").write_text(json.dumps({"fingerprint": kb.fingerprint}), encoding="utf-8")
        self.understanding = understanding
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> KnowledgeRanker:
        with model_storage.read_from(resource) as folder:
            state = pickle.loads((folder / "understanding.pkl").read_bytes())  # our own model file
            index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        kb = load()
        if kb.fingerprint != index["fingerprint"]:
            raise ValueError("The knowledge changed since this model was trained; retrain it (`make train`).")
        understanding = Understanding.from_state(kb, cls._embed(config), state, Params.from_config(config))
        return cls(config, model_storage, resource, understanding)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._process_one(message)
        return messages

    def _process_one(self, message: Message) -> None:
        if self.understanding is None:
            return
        context = Context.from_metadata(message.get("metadata"))
        reading = self._read(message.get(TEXT) or "", context)
        message.set(
            INTENT, {"name": reading.intent, "confidence": round(float(reading.confidence), 4)}, add_to_output=True
        )
        message.set(KNOWLEDGE_KEY, reading.as_dict(), add_to_output=True)

    def _read(self, text: str, context: Context) -> Reading:
        """The reading of `text`, remembered for repeated messages in the same state."""
        key = (text, json.dumps(context.__dict__, sort_keys=True, ensure_ascii=False, default=str))
        found = self._recent.get(key)
        if found is None:
            found = self.understanding.read(text, context)  # type: ignore[union-attr]
            self._recent[key] = found
            if len(self._recent) > RECENT_READINGS:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(key)
        return found
