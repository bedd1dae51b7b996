"""Retrieval over the knowledge: which entry answers a question, and how sure we are.

Two rankers score every entry (and the out-of-scope set, a pseudo-entry made of look-alike
questions that are not about disability):
- the embedding ranker: the highest cosine between the question and the entry's examples;
- the lexical ranker (`lexical.py`): idf-weighted share of the question's tokens.
Their fusion weight, two small logistic models (is the question in scope? is the top entry
right?) and the decision thresholds are all learned by `calibrate()` from the examples
themselves, each example scored as if it had never been seen (leave-one-out).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field

import numpy as np

from knowledge.base import KnowledgeBase
from knowledge.lexical import LexicalIndex

logger = logging.getLogger(__name__)

OUT_OF_SCOPE = "out_of_scope"
Embed = Callable[[Sequence[str]], np.ndarray]
TAIL_CHARS = 40
# The share of content messages assumed to be out of scope when learning the thresholds:
# the out-of-scope examples are few, so each is weighted up to this share of the traffic.
OUT_OF_SCOPE_SHARE = 0.2
# Regularisation of the scope model (inverse strength), chosen by 5-fold cross-validated AUC
# on the examples (1: 0.985, 10: 0.992).
SCOPE_C = 10.0

# What each outcome is worth when the thresholds are learned: a wrong answer costs more
# than an honest "I don't know" (non-negotiable 1: truth).
UTILITY = {
    ("in", "answer", True): 1.0,
    ("in", "answer", False): -2.0,
    ("in", "clarify", True): 0.5,
    ("in", "clarify", False): -0.5,
    ("in", "unknown", None): 0.0,
    ("in", "out_of_scope", None): -0.5,
    ("out", "answer", None): -2.0,
    ("out", "clarify", None): -0.5,
    ("out", "unknown", None): 0.5,
    ("out", "out_of_scope", None): 1.0,
}


@dataclass(frozen=True)
class Candidate:
    """One entry's scores for a question."""

    key: str
    id: str
    score: float
    emb: float
    lex: float


@dataclass
class Params:
    """Everything `calibrate()` learns; stored with the trained model."""

    alpha: float = 0.5
    scope_coef: list[float] = field(default_factory=list)
    scope_bias: float = 0.0
    correct_coef: list[float] = field(default_factory=list)
    correct_bias: float = 0.0
    t_scope: float = 0.5
    t_answer: float = 0.6
    t_clarify: float = 0.3
    report: dict = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(asdict(self), ensure_ascii=False, indent=1)

    @classmethod
    def from_json(cls, text: str) -> Params:
        return cls(**json.loads(text))


@dataclass(frozen=True)
class Decision:
    """What to do with a question: answer, clarify, unknown or out_of_scope."""

    kind: str
    p_scope: float
    p_correct: float
    candidates: tuple[Candidate, ...]

    def as_dict(self, top: int = 5) -> dict:
        return {
            "decision": self.kind,
            "p_scope": round(self.p_scope, 4),
            "p_correct": round(self.p_correct, 4),
            "ranking": [{"key": c.key, "id": c.id, "score": round(c.score, 4)} for c in self.candidates[:top]],
        }


def _sigmoid(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))


def _tail(text: str) -> str | None:
    """The end of a long message, where residents usually put the question."""
    text = text.strip()
    return text[-TAIL_CHARS:] if len(text) > TAIL_CHARS * 1.5 else None


class Retriever:
    """Scores questions against the knowledge entries and the out-of-scope set."""

    def __init__(
        self,
        kb: KnowledgeBase,
        negatives: Sequence[str],
        embed: Embed | None,
        vectors: np.ndarray | None = None,
        params: Params | None = None,
    ) -> None:
        self.kb = kb
        self.embed = embed
        self.params = params or Params()
        self.labels = [e.key for e in kb.entries] + [OUT_OF_SCOPE]
        self.label_ids = [e.id for e in kb.entries] + [OUT_OF_SCOPE]
        self.oos = len(self.labels) - 1
        docs: list[list[str]] = [[e.title, *e.examples] for e in kb.entries]
        docs.append(list(dict.fromkeys(n for n in negatives if n.strip())))
        self.rows = [(text, label) for label, texts in enumerate(docs) for text in texts]
        self.row_label = np.array([label for _, label in self.rows])
        answers = [[e.answer] for e in kb.entries] + [[]]
        self.lexical = LexicalIndex([d + a for d, a in zip(docs, answers, strict=False)])
        if embed is not None and vectors is None:
            vectors = embed([text for text, _ in self.rows])
        self.vectors = vectors

    # -- scoring -------------------------------------------------------------------------
    def _emb_by_label(self, sims: np.ndarray) -> np.ndarray:
        """Per label, the best row similarity (rows × … → labels × …)."""
        out = np.full((len(self.labels),) + sims.shape[1:], -1.0, dtype=np.float32)
        np.maximum.at(out, self.row_label, sims)
        return out

    def label_scores(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Embedding and lexical score of every label for `text`."""
        emb, lex, _ = self._score(text)
        return emb, lex

    def _score(self, text: str) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Embedding scores, lexical scores and the question's own vector (None without a model)."""
        lex = np.array(self.lexical.scores(text), dtype=np.float32)
        if self.vectors is None or self.embed is None:
            return np.zeros_like(lex), lex, None
        tail = _tail(text)
        segments = [text, tail] if tail else [text]
        q = self.embed(segments)
        sims = (self.vectors @ q.T).max(axis=1)
        return self._emb_by_label(sims), lex, q[0]

    def fuse(self, emb: np.ndarray, lex: np.ndarray, alpha: float | None = None) -> np.ndarray:
        a = self.params.alpha if alpha is None else alpha
        if self.vectors is None:
            a = 0.0
        return a * emb + (1 - a) * lex

    def candidates(self, emb: np.ndarray, lex: np.ndarray) -> list[Candidate]:
        """Entries (not the out-of-scope set) best first."""
        fused = self.fuse(emb, lex)
        order = np.argsort(-fused[: self.oos], kind="stable")
        return [
            Candidate(self.labels[i], self.label_ids[i], float(fused[i]), float(emb[i]), float(lex[i])) for i in order
        ]

    def features(self, emb: np.ndarray, lex: np.ndarray) -> list[float]:
        """The numbers the two logistic models look at."""
        fused = self.fuse(emb, lex)
        order = np.argsort(-fused[: self.oos], kind="stable")
        top = order[0]
        other = next((i for i in order if self.label_ids[i] != self.label_ids[top]), top)
        s1, s2, so = float(fused[top]), float(fused[other]), float(fused[self.oos])
        return [s1, s1 - s2, so - s1, float(emb[top]), float(lex[top]), float(emb[self.oos]), float(lex[self.oos])]

    def scope_input(self, feats: Sequence[float], vector: np.ndarray | None) -> np.ndarray:
        """What the scope model reads: the question's embedding (when there is one) and the features."""
        parts = [np.asarray(feats, dtype=np.float32)]
        if self.vectors is not None:
            parts.insert(0, vector if vector is not None else np.zeros(self.vectors.shape[1], np.float32))
        return np.concatenate(parts)

    def probabilities(self, feats: Sequence[float], vector: np.ndarray | None = None) -> tuple[float, float]:
        """P(in scope) and P(top entry right) from the learned logistic models."""
        p = self.params
        if not p.scope_coef:
            return 0.5, 0.5
        x = np.asarray(feats, dtype=np.float32)
        return (
            _sigmoid(float(self.scope_input(x, vector) @ np.array(p.scope_coef)) + p.scope_bias),
            _sigmoid(float(x @ np.array(p.correct_coef)) + p.correct_bias),
        )

    def decide_from(self, p_scope: float, p_correct: float) -> str:
        p = self.params
        if p_scope < p.t_scope:
            return "out_of_scope"
        if p_correct >= p.t_answer:
            return "answer"
        if p_correct >= p.t_clarify:
            return "clarify"
        return "unknown"

    def decide(self, text: str) -> Decision:
        """Rank the entries for `text` and choose what to do.

        Only the calibrated probabilities are used: the thresholds were learned for them, so
        mixing in another classifier's score afterwards would void the calibration.
        """
        emb, lex, vector = self._score(text)
        feats = self.features(emb, lex)
        p_scope, p_correct = self.probabilities(feats, vector)
        return Decision(self.decide_from(p_scope, p_correct), p_scope, p_correct, tuple(self.candidates(emb, lex)))

    # -- learning ------------------------------------------------------------------------
    def loo_scores(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Scores of every example (titles excluded) as if it were not in the index.

        Returns (row indices, labels, embedding scores Q×L, lexical scores Q×L).
        """
        titles, start = set(), 0
        for entry in self.kb.entries:
            titles.add(start)
            start += 1 + len(entry.examples)
        queries = np.array([i for i in range(len(self.rows)) if i not in titles])
        labels = self.row_label[queries]
        if self.vectors is not None:
            sims = self.vectors[queries] @ self.vectors.T
            sims[np.arange(len(queries)), queries] = -1.0
            emb = self._emb_by_label(sims.T).T
        else:
            emb = np.zeros((len(queries), len(self.labels)), dtype=np.float32)
        lex = np.array(
            [self.lexical.scores(self.rows[i][0], exclude=(int(self.row_label[i]), self.rows[i][0])) for i in queries],
            dtype=np.float32,
        )
        return queries, labels, emb, lex

    def calibrate(self) -> Params:
        """Learn the fusion weight, the two logistic models and the thresholds."""
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import StratifiedKFold, cross_val_predict

        queries, labels, emb, lex = self.loo_scores()
        ids = np.array(self.label_ids)
        inscope = labels != self.oos
        truth = ids[labels]

        def top1(alpha: float) -> float:
            fused = alpha * emb + (1 - alpha) * lex
            best = fused[:, : self.oos].argmax(axis=1)
            return float((ids[best][inscope] == truth[inscope]).mean())

        alphas = [0.0] if self.vectors is None else [round(a, 2) for a in np.linspace(0, 1, 21)]
        accuracy = {a: top1(a) for a in alphas}
        self.params.alpha = max(alphas, key=lambda a: (accuracy[a], -abs(a - 0.5)))

        feats = np.array([self.features(emb[i], lex[i]) for i in range(len(labels))])
        fused = self.fuse(emb, lex)
        order = np.argsort(-fused[:, : self.oos], axis=1)
        first = ids[order[:, 0]]
        correct = (first == truth) & inscope
        top2 = np.array([truth[i] in list(dict.fromkeys(ids[order[i, :6]]))[:2] for i in range(len(labels))])

        # Scope (is this about disability?) reads the question's embedding and the features;
        # right-or-wrong reads the features. Thresholds are learned on cross-validated
        # probabilities, so they hold for questions the models have not seen.
        vectors = self.vectors[queries] if self.vectors is not None else None
        scope_x = np.array([self.scope_input(f, None if vectors is None else vectors[i]) for i, f in enumerate(feats)])
        scope_model = LogisticRegression(C=SCOPE_C, class_weight="balanced", max_iter=5000)
        right_model = LogisticRegression(class_weight="balanced", max_iter=5000)
        folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
        ps = cross_val_predict(scope_model, scope_x, inscope, cv=folds, method="predict_proba")[:, 1]
        pc = np.zeros(len(labels))
        pc[inscope] = cross_val_predict(
            right_model, feats[inscope], correct[inscope], cv=folds, method="predict_proba"
        )[:, 1]
        scope_model.fit(scope_x, inscope)
        right_model.fit(feats[inscope], correct[inscope])
        self.params.scope_coef = scope_model.coef_[0].tolist()
        self.params.scope_bias = float(scope_model.intercept_[0])
        self.params.correct_coef = right_model.coef_[0].tolist()
        self.params.correct_bias = float(right_model.intercept_[0])

        w_in = (1 - OUT_OF_SCOPE_SHARE) / max(1, int(inscope.sum()))
        w_out = OUT_OF_SCOPE_SHARE / max(1, int((~inscope).sum()))

        def utility(ts: float, ta: float, tc: float) -> float:
            oos = ps < ts
            answer = ~oos & (pc >= ta)
            clarify = ~oos & ~answer & (pc >= tc)
            unknown = ~oos & ~answer & ~clarify
            u = UTILITY
            inn, out = inscope, ~inscope
            return float(
                w_in
                * (
                    u[("in", "answer", True)] * (inn & answer & correct).sum()
                    + u[("in", "answer", False)] * (inn & answer & ~correct).sum()
                    + u[("in", "clarify", True)] * (inn & clarify & top2).sum()
                    + u[("in", "clarify", False)] * (inn & clarify & ~top2).sum()
                    + u[("in", "unknown", None)] * (inn & unknown).sum()
                    + u[("in", "out_of_scope", None)] * (inn & oos).sum()
                )
                + w_out
                * (
                    u[("out", "answer", None)] * (out & answer).sum()
                    + u[("out", "clarify", None)] * (out & clarify).sum()
                    + u[("out", "unknown", None)] * (out & unknown).sum()
                    + u[("out", "out_of_scope", None)] * (out & oos).sum()
                )
            )

        grid = [round(x, 2) for x in np.arange(0.05, 0.96, 0.05)]
        best = max(
            ((ts, ta, tc) for ts in grid for ta in grid for tc in grid if tc <= ta),
            key=lambda t: (utility(*t), t[1]),
        )
        self.params.t_scope, self.params.t_answer, self.params.t_clarify = best
        self.params.report = {
            "examples": int(inscope.sum()),
            "negatives": int((~inscope).sum()),
            "loo_top1_by_alpha": accuracy,
            "loo_top1": accuracy[self.params.alpha],
            "utility": utility(*best),
            "thresholds": {"scope": best[0], "answer": best[1], "clarify": best[2]},
        }
        logger.info("knowledge calibration: %s", self.params.report)
        return self.params
