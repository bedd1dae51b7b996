"""The NLU step that joins Rasa's intent classifier with retrieval over the knowledge.

It runs after DIET in `config.yml`. For a question DIET files as a policy question (or
out of scope, or is unsure about), it ranks the knowledge entries (`retrieval.py`) and
decides: answer, clarify between two entries, admit it does not know, or out of scope.
The decision and the ranking go into the parse result under `knowledge`, where the
answer action reads them; the intent becomes `ask_policy` or `out_of_scope` accordingly.
"""

from __future__ import annotations

import json
import logging
import re
from collections import OrderedDict
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from knowledge.base import load
from knowledge.importer import POLICY_INTENT
from knowledge.retrieval import OUT_OF_SCOPE, Decision, Params, Retriever

logger = logging.getLogger(__name__)

KNOWLEDGE_KEY = "knowledge"
# Intents this step decides: a policy question, out of scope, or what DIET was unsure of
# (FallbackClassifier turned it into nlu_fallback).
CONTENT_INTENTS = {POLICY_INTENT, OUT_OF_SCOPE, "nlu_fallback", None}
# Small talk that may open a real question ("你好，我想问护理补贴"): a confident answer wins.
CHITCHAT_INTENTS = {"greet", "goodbye", "thanks"}
FOLLOWUP_INTENT = "ask_followup"
# A message needs the knowledge only if it has a letter or a Chinese character.
WORDY = re.compile(r"[^\W\d_]")
RECENT_DECISIONS = 2048


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class KnowledgeRanker(GraphComponent, IntentClassifier):
    """Ranks knowledge entries for each message and decides how to reply."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # path of the sentence-transformers model; empty: the configured default
            "model": "",
        }

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        retriever: Retriever | None = None,
    ) -> None:
        self.config = config
        self._storage = model_storage
        self._resource = resource
        self.retriever = retriever
        self._recent: OrderedDict[str, Decision] = OrderedDict()

    @staticmethod
    def _embedder(config: dict[str, Any]):  # lazy: torch is imported only when needed
        from knowledge.embedding import embedder

        return embedder(config.get("model") or None)

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
        negatives = [m.get(TEXT) for m in training_data.intent_examples if m.get(INTENT) == OUT_OF_SCOPE]
        kb = load()
        retriever = Retriever(kb, negatives, self._embedder(self.config).encode)
        params = retriever.calibrate()
        with self._storage.write_to(self._resource) as folder:
            np.save(folder / "vectors.npy", retriever.vectors)
            (folder / "params.json").write_text(params.to_json(), encoding="utf-8")
            (folder / "index.json").write_text(
                json.dumps({"fingerprint": kb.fingerprint, "negatives": negatives}, ensure_ascii=False),
                encoding="utf-8",
            )
        self.retriever = retriever
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
            vectors = np.load(folder / "vectors.npy")
            params = Params.from_json((folder / "params.json").read_text(encoding="utf-8"))
            index = json.loads((folder / "index.json").read_text(encoding="utf-8"))
        kb = load()
        if kb.fingerprint != index["fingerprint"]:
            raise ValueError("The knowledge changed since this model was trained; retrain it (`make train`).")
        retriever = Retriever(kb, index["negatives"], cls._embedder(config).encode, vectors, params)
        return cls(config, model_storage, resource, retriever)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            self._process_one(message)
        return messages

    def _process_one(self, message: Message) -> None:
        text = "".join(ch for ch in message.get(TEXT) or "" if ch.isprintable() or ch.isspace()).strip()
        if not text:
            # Nothing to understand (empty, spaces, control characters): ask to rephrase.
            message.set(INTENT, {"name": "nlu_fallback", "confidence": 1.0}, add_to_output=True)
            return
        if self.retriever is None:
            return
        name = (message.get(INTENT) or {}).get("name")
        if name not in CONTENT_INTENTS | CHITCHAT_INTENTS | {FOLLOWUP_INTENT}:
            return  # a choice, a yes, a help request…: no knowledge needed (and no embedding spent)
        if not WORDY.search(text):
            # Digits and signs only (a phone number typed outside the form): nothing to look up.
            message.set(INTENT, {"name": "nlu_fallback", "confidence": 1.0}, add_to_output=True)
            return
        decision = self._decide(text)
        message.set(KNOWLEDGE_KEY, decision.as_dict(), add_to_output=True)
        if name in CONTENT_INTENTS or (name in CHITCHAT_INTENTS and decision.kind == "answer"):
            new = OUT_OF_SCOPE if decision.kind == "out_of_scope" else POLICY_INTENT
            sure = 1.0 - decision.p_scope if new == OUT_OF_SCOPE else decision.p_scope
            logger.debug("knowledge: %s -> %s (%s)", name, new, decision.kind)
            message.set(INTENT, {"name": new, "confidence": round(sure, 4)}, add_to_output=True)

    def _decide(self, text: str) -> Decision:
        """The retriever's decision, remembered for repeated questions (most are)."""
        found = self._recent.get(text)
        if found is None:
            found = self.retriever.decide(text)
            self._recent[text] = found
            if len(self._recent) > RECENT_DECISIONS:
                self._recent.popitem(last=False)
        else:
            self._recent.move_to_end(text)
        return found
