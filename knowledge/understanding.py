"""How the assistant reads a message: what kind it is, which entry answers it, what to do.

One model, trained from the project's own examples (knowledge/entries for policy
questions, data/nlu for everything else), read in the light of the conversation:

1. **Short replies in context.** While a question with short answers is open (the slot
   `pending`: numbered options, "shall I pass it on?", …), a bare digit (2, ２, 二, 两,
   第二个) is the intent `choose`, a yes `affirm`, a no or "都不是" `deny`. A digit inside a
   sentence ("我今年65岁 能领吗") is not a choice. "算了" cancels.
2. **The kind of message**: a logistic regression over the sentence embedding
   (multilingual-e5-small) beside character n-grams (1–3, after traditional → simplified
   folding): a policy question, a help request, asking for a person, danger, status, an
   addition, voice settings, small talk, out of scope. Character n-grams carry what the
   embedding blurs ("帮我申请" asks someone to act, "能申请吗" asks for information).
3. **Danger first.** `urgent` wins at a lower probability than the other kinds, lower
   still when a danger word is present (knowledge/danger.py), and always for a strong one
   ("不想活了", "着火了"), unless the words tell a story of the past.
4. **Which entry answers a policy question**: two logistic regressions over the entries
   (embedding; character n-grams), their geometric mean, summed per knowledge ID. After an
   answer, the next question is ranked with the conversation: the ranking of the message
   alone is mixed with the ranking of the topic's title followed by the message, so "去哪里领"
   after the nursing subsidy is about the nursing subsidy, while "那学费呢" after a hearing-aid
   answer still reaches school fees.
5. **What to do**: answer when the best knowledge ID is likely enough; offer numbered
   options only when two IDs are close and each is a plausible reading; otherwise say
   honestly that it does not know and offer a person.

The thresholds are `Params` (config.yml); they were chosen on the December development set,
which is therefore spent (bench/eval/2026-12/README.md). Everything else is learned from
the examples. `Understanding.read(text, context)` is all the Rasa component calls.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from common.choices import digit_choice, fold
from knowledge import danger
from knowledge.base import Entry, KnowledgeBase
from knowledge.cues import (
    A_PERSON,
    ACTING,
    ALL_CLEAR,
    ASK_TO_ACT,
    ASKING,
    BYE,
    CANCEL,
    FOLLOWUP_LEAD,
    FOR_ME,
    FOUND_SAFE,
    GENERIC,
    GREETING,
    GUARDS,
    IN_DOMAIN,
    LOOK_ALIKE,
    MEASURE_QUESTION,
    MISSED,
    NEW_NEED,
    NO,
    NO_LEAD,
    NONE_FITS,
    NOT_DISABLED,
    NOT_GUARDED,
    ON_BEHALF,
    OWN_FAMILY,
    PASS_ON,
    READ_ALOUD,
    STATUS_WORDS,
    TICKET_NUMBER,
    WAITING,
    WHAT_NOW,
    WHETHER,
    YES,
)
from knowledge.lexical import normalise, plain

logger = logging.getLogger(__name__)

Embed = Callable[[Sequence[str]], np.ndarray]
POLICY = "ask_policy"
# Training intents that are policy questions too (asked after an answer, or belonging to no entry).
POLICY_LIKE = frozenset({POLICY, "ask_followup"})
FALLBACK = "nlu_fallback"
CHITCHAT = frozenset({"greet", "goodbye", "thanks"})
# Intents decided by the dialogue state, not the classifier, when a short answer is expected.
SHORT_ANSWERS = frozenset({"choose", "affirm", "deny"})
MAX_CHARS = 400
_PUNCT = re.compile(r"[\s\W_]+")
_WORDY = re.compile(r"[^\W\d_]")


@dataclass(frozen=True)
class Params:
    """The decision thresholds (config.yml; chosen on the spent development set)."""

    answer: float = 0.35  # the best ID's probability needed to answer
    clarify_second: float = 0.1  # a second ID this likely is a plausible reading: offer options
    clarify_cover: float = 0.35  # …and the options together must be this likely
    option: float = 0.08  # an option below this is not offered
    urgent: float = 0.5  # urgent wins at this probability, whatever is likelier
    urgent_with_word: float = 0.3  # …and at this one when a danger word is present
    urgent_past: float = 0.8  # …and only at this one when the message tells of the past ("上个月")
    context_mix: float = 0.3  # weight of "topic title + message" in a follow-up's ranking
    context_mix_short: float = 0.5  # …for a short one ("哪里领"), whose words alone say little
    short_chars: float = 5  # characters (no spaces or punctuation) of a short follow-up
    out_of_scope_unknown: float = 0.2  # a policy reading no entry fits is out of scope at this probability
    topic_chars: float = 30  # a message longer than this is ranked on its own, without the topic just answered
    person_chars: float = 30  # a longer message asking for a person is a story for the form, not "put me through"
    vague_alone: float = 0.2  # a follow-up of a few words whose best entry alone is below this leans on the topic
    chitchat_answer: float = 0.6  # a greeting that carries a question this clear is answered
    out_of_scope_sure: float = 0.9  # out of scope this likely is not taken for a follow-up
    alpha: float = 1e-5  # L2 penalty of the logistic regressions (SGD, log loss)
    epochs: float = 30  # passes over the examples
    embedding_weight: float = 0.5  # the embedding's scale beside the character n-grams (kind model)

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> Params:
        known = {k: float(v) for k, v in (config or {}).items() if k in cls.__dataclass_fields__}
        return cls(**known)


@dataclass(frozen=True)
class Context:
    """The dialogue state a message is read in (rasa_addons/context.py passes it)."""

    topic: str | None = None
    pending: dict | None = None
    active_loop: str | None = None
    requested_slot: str | None = None

    @classmethod
    def from_metadata(cls, metadata: dict | None) -> Context:
        state = (metadata or {}).get("dialogue") or {}
        pending = state.get("pending")
        return cls(
            topic=state.get("topic") if isinstance(state.get("topic"), str) else None,
            pending=pending if isinstance(pending, dict) and pending.get("type") else None,
            active_loop=state.get("active_loop") or None,
            requested_slot=state.get("requested_slot") or None,
        )


@dataclass(frozen=True)
class Candidate:
    key: str
    id: str
    score: float


@dataclass(frozen=True)
class Reading:
    """What a message means: its intent and, for a policy question, what to answer."""

    intent: str
    confidence: float
    decision: str | None = None  # answer | clarify | unknown | out_of_scope (policy readings)
    ranking: tuple[Candidate, ...] = ()
    ids: tuple[tuple[str, float], ...] = ()  # knowledge IDs, best first, with probabilities
    options: tuple[str, ...] = ()  # entry keys to offer when decision == clarify
    danger: tuple[str, ...] = ()
    followup: bool = False
    kinds: dict[str, float] = field(default_factory=dict)

    def as_dict(self, top: int = 5) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "ranking": [{"key": c.key, "id": c.id, "score": round(c.score, 4)} for c in self.ranking[:top]],
            "ids": [[i, round(p, 4)] for i, p in self.ids[:top]],
            "options": list(self.options),
            "danger": list(self.danger),
            "followup": self.followup,
            "kinds": {k: round(v, 4) for k, v in self.kinds.items()},
        }


def squash(text: str) -> str:
    """Lower-case, full-width folded, no spaces or punctuation: how short replies are compared."""
    return _PUNCT.sub("", fold(text).lower())


def short_reply(text: str, context: Context) -> str | None:
    """The intent of a short reply that the dialogue state decides, or None."""
    s = squash(text)
    if s in CANCEL:
        return "cancel"
    if NO_LEAD.match(text):
        return "deny"  # "不用了 我自己去镇上问", with or without a question open
    if context.pending is None:
        if context.topic and len(s) <= 12 and MISSED.search(s) and not re.search(r"[吗么]$", s):
            return "deny"  # action_answer offers a person for the question that answer missed
        return None
    if digit_choice(text) is not None:
        return "choose"
    if context.pending.get("type") == "clarify" and len(s) <= 12 and NONE_FITS.search(s):
        return "deny"
    lead = re.match(r"\s*([0-9０-９])\s*(\S{0,6})$", text)
    if lead and digit_choice(lead.group(1)) is not None and not re.search(r"\d", lead.group(2)):
        return "choose"  # "2 这个", "3 都不是"
    if s in YES:
        return "affirm"
    if s in NO:
        return "deny"
    return None


class _Linear:
    """A fitted logistic regression kept as plain arrays (fast to apply, easy to store)."""

    def __init__(self, classes: list[str], coef: np.ndarray, intercept: np.ndarray) -> None:
        self.classes = classes
        self.coef = coef.astype(np.float32)
        self.intercept = intercept.astype(np.float32)
        # features × classes, C-contiguous and float32 like the features `proba` is given:
        # a transposed view, or float64 n-grams against float32 weights, made scipy copy the
        # whole matrix on every message (38% of Rasa's CPU per turn).
        self._coef_t = np.ascontiguousarray(self.coef.T)

    @classmethod
    def fit(cls, x: Any, y: Sequence[str], params: Params, balanced: bool = False) -> _Linear:
        """Logistic regression by stochastic gradient descent: seconds, where lbfgs took minutes
        on 2 cores for the same ranking. `balanced`: every class weighs the same in all (the
        kind model: a hundred danger examples against thousands of policy questions)."""
        from sklearn.linear_model import SGDClassifier

        model = SGDClassifier(
            loss="log_loss",
            alpha=params.alpha,
            max_iter=int(params.epochs),
            tol=None,
            random_state=0,
            class_weight="balanced" if balanced else None,
        )
        model.fit(x, list(y))
        return cls(list(model.classes_), np.asarray(model.coef_), np.asarray(model.intercept_))

    def proba(self, x: Any) -> np.ndarray:
        if x.dtype != np.float32:
            x = x.astype(np.float32)
        z = np.asarray(x @ self._coef_t, dtype=np.float64) + self.intercept  # float64 out: JSON-safe scores
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def state(self) -> dict[str, Any]:
        return {"classes": self.classes, "coef": self.coef, "intercept": self.intercept}

    @classmethod
    def from_state(cls, state: dict[str, Any]) -> _Linear:
        return cls(list(state["classes"]), np.asarray(state["coef"]), np.asarray(state["intercept"]))


class Understanding:
    """The trained reader of messages (see the module docstring)."""

    def __init__(
        self,
        kb: KnowledgeBase,
        embed: Embed,
        params: Params,
        ngrams: Any,
        kind: _Linear,
        entry_emb: _Linear,
        entry_ngram: _Linear,
    ) -> None:
        self.kb = kb
        self.embed = embed
        self.params = params
        self.ngrams = ngrams
        self.kind = kind
        self.entry_emb = entry_emb
        self.entry_ngram = entry_ngram
        self._entry_ids = [kb.by_key[k].id for k in entry_emb.classes]
        self._id_order = sorted(set(self._entry_ids))
        self._id_index = np.array([self._id_order.index(i) for i in self._entry_ids])

    # -- training -----------------------------------------------------------------------------
    @classmethod
    def train(
        cls,
        kb: KnowledgeBase,
        intent_examples: Sequence[tuple[str, str]],
        embed: Embed,
        params: Params | None = None,
    ) -> Understanding:
        """Learn from the entries' examples and the other intents' examples (text, intent)."""
        from sklearn.feature_extraction.text import TfidfVectorizer

        params = params or Params()
        entry_rows = [(text, e.key) for e in kb.entries for text in (e.title, *e.examples)]
        known = {text for text, _ in entry_rows}
        other = [(t, POLICY if i in POLICY_LIKE else i) for t, i in intent_examples if t not in known]
        texts = [t for t, _ in entry_rows] + [t for t, _ in other]
        kinds = [POLICY] * len(entry_rows) + [i for _, i in other]
        vectors = embed(texts)
        ngrams = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 3), sublinear_tf=True, preprocessor=normalise)
        grams = ngrams.fit_transform(texts)
        n = len(entry_rows)
        entry_keys = [k for _, k in entry_rows]
        model = cls(
            kb,
            embed,
            params,
            ngrams,
            kind=_Linear.fit(_joined(vectors, grams, params.embedding_weight), kinds, params, balanced=True),
            entry_emb=_Linear.fit(vectors[:n], entry_keys, params),
            entry_ngram=_Linear.fit(grams[:n], entry_keys, params),
        )
        logger.info("understanding trained: %d entry examples, %d others, %d kinds", n, len(other), len(set(kinds)))
        return model

    def state(self) -> dict[str, Any]:
        """Everything learned, for the Rasa model storage (the knowledge is reloaded)."""
        return {
            "ngrams": self.ngrams,
            "kind": self.kind.state(),
            "entry_emb": self.entry_emb.state(),
            "entry_ngram": self.entry_ngram.state(),
            "params": asdict(self.params),
        }

    @classmethod
    def from_state(cls, kb: KnowledgeBase, embed: Embed, state: dict[str, Any], params: Params) -> Understanding:
        entry_emb = _Linear.from_state(state["entry_emb"])
        missing = [k for k in entry_emb.classes if k not in kb.by_key]
        if missing:
            raise ValueError(f"the knowledge changed since training (no entry {missing[0]}); retrain (`make train`)")
        return cls(
            kb,
            embed,
            params,
            state["ngrams"],
            _Linear.from_state(state["kind"]),
            entry_emb,
            _Linear.from_state(state["entry_ngram"]),
        )

    # -- reading ------------------------------------------------------------------------------
    def read(self, text: str, context: Context | None = None) -> Reading:
        """What `text` means in `context`."""
        context = context or Context()
        text = " ".join("".join(ch for ch in text or "" if ch.isprintable() or ch.isspace()).split())[:MAX_CHARS]
        text = plain(text)  # 聽說 → 听说, 唔識 → 不识
        if not text:
            return Reading(FALLBACK, 1.0)
        short = short_reply(text, context)
        if short is not None:
            return Reading(short, 1.0)
        after_urgent = (context.pending or {}).get("type") == "urgent_details"
        if after_urgent:
            # right after danger, the earlier topic does not pull a message to it ("反正冇人管我"
            # after crisis talk is not a question about the subsidy asked before)
            context = replace(context, topic=None)
        reading = self._read(text, context)
        if not after_urgent:
            return reading
        folded = normalise(text).replace(" ", "")
        if FOUND_SAFE.search(squash(text)) and not danger.find(folded).any:
            # "找到了 在他老表屋里 吓死我了": the danger is over; staff must hear it, on the same ticket
            return Reading("add_to_ticket", 1.0, kinds=reading.kinds)
        if self._details(reading, folded):
            pending = context.pending or {}
            if pending.get("crisis"):
                # "冇人会管我的" after talk of suicide: the lines again, and onto the same ticket
                return Reading("urgent", 1.0, kinds=reading.kinds, danger=("crisis",))
            if WHAT_NOW.search(squash(text)):
                # "你们能帮忙找吗", "打了120了 我现在怎么办": still in danger, asking for help with
                # it: the lines again, onto the same ticket
                kinds = tuple(k for k in pending.get("kinds") or () if isinstance(k, str)) or ("unknown",)
                return Reading("urgent", 1.0, kinds=reading.kinds, danger=kinds)
            # right after the urgent reply, what they say (where, who, a phone) goes to the urgent ticket
            return Reading("add_to_ticket", 1.0, kinds=reading.kinds, danger=reading.danger)
        return reading

    @staticmethod
    def _details(reading: Reading, folded: str) -> bool:
        """Is this what a person in danger says next (where, who, a phone, "要不要等他睡一觉"), not a
        new request?"""
        if reading.intent == POLICY:
            # options for "我在澄江镇" mean it is not a question; an answer naming nothing of the
            # plan ("要不要等他睡一觉起来再看" after stroke signs) is about the danger, not a measure
            return reading.decision != "answer" or not _in_domain(folded)
        # "我在澄江镇 电话138…" reads like asking for a person: staff are already told, so it joins too
        # ("你们能帮忙找吗", "冇人会管我的"): a request or a complaint right then is about the danger
        return reading.intent in (
            "add_to_ticket",
            "out_of_scope",
            FALLBACK,
            "affirm",
            "deny",
            "choose",
            "human",
            "request_help",
            "ticket_status",
        )

    def _read(self, text: str, context: Context) -> Reading:
        if not _WORDY.search(text):
            # digits and signs only: a choice with nothing to choose from, or a number typed outside a form
            return Reading("choose" if digit_choice(text) is not None else FALLBACK, 1.0)
        folded = normalise(text).replace(" ", "")
        topic = self.kb.by_key.get(context.topic or "")
        if len(folded) > self.params.topic_chars:
            topic = None  # a long message carries its own topic (and a second embedding pass costs most there)
        # one pass of the embedding model for the message and, after an answer, the message
        # read with its topic (the follow-up ranking, `_policy`)
        vectors = self.embed([text, f"{topic.title} {text}"] if topic is not None else [text])
        vector, with_topic = vectors[:1], (vectors[1:] if topic is not None else None)
        grams = self.ngrams.transform([text])
        probs = self.kind.proba(_joined(vector, grams, self.params.embedding_weight))[0]
        kinds = dict(zip(self.kind.classes, probs, strict=True))
        found = danger.find(folded)
        kinds_top = dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:4])
        if self._urgent(kinds.get("urgent", 0.0), found, folded):
            return Reading("urgent", kinds.get("urgent", 0.0), danger=found.kinds or ("unknown",), kinds=kinds_top)
        allowed = [
            k
            for k in kinds
            if k != "urgent"
            and (k not in GUARDS or GUARDS[k].search(folded))
            and not (k in NOT_GUARDED and NOT_GUARDED[k].search(folded))
        ]
        intent = max(allowed, key=kinds.__getitem__)
        if GREETING.fullmatch(folded) and "greet" in kinds:
            return Reading(
                "greet", kinds["greet"], kinds=kinds_top
            )  # "老师好", "领导早上好": a greeting, whatever the title
        if TICKET_NUMBER.search(folded) and STATUS_WORDS.search(folded) and "ticket_status" in kinds:
            return Reading("ticket_status", kinds["ticket_status"], kinds=kinds_top)  # "单号…现在是什么状态"
        if (
            intent in (POLICY, "request_help")
            and context.topic is None
            and LOOK_ALIKE.search(folded)
            and not _in_domain(folded)
            and "out_of_scope" in kinds
        ):
            return Reading("out_of_scope", kinds["out_of_scope"], "out_of_scope", kinds=kinds_top)  # "办结婚证要带么子"
        if intent in SHORT_ANSWERS | {"cancel"} and context.pending is None and len(squash(text)) > 4:
            intent = POLICY  # a sentence is not a bare yes, no or digit
        if intent == "thanks" and BYE.search(folded) and "goodbye" in kinds:
            intent = "goodbye"
        if intent in ("request_help", "human") and PASS_ON.search(folded) and not NEW_NEED.search(folded):
            return Reading("add_to_ticket", kinds.get("add_to_ticket", 0.0), kinds=kinds_top)
        if (
            intent in (POLICY, "human", "request_help", "out_of_scope")
            and WAITING.search(folded)
            and not found.any
            and "ticket_status" in kinds
        ):
            return Reading("ticket_status", kinds["ticket_status"], kinds=kinds_top)  # "讲好三天回电话 …都冇"
        if self._wants_person(intent, folded) and "human" in kinds:
            return Reading("human", kinds["human"], kinds=kinds_top)  # "残联电话多少 我自己打过去"
        if intent in ("request_help", "human") and READ_ALOUD.search(folded) and "voice_on" in kinds:
            return Reading("voice_on", kinds["voice_on"], kinds=kinds_top)
        if intent == POLICY and "request_help" in kinds and _asks_to_act(folded):
            return Reading("request_help", kinds["request_help"], kinds=kinds_top)  # "…能不能帮她弄一个"
        asking = (
            intent == "request_help"
            and (ASKING.search(folded) or ON_BEHALF.search(folded))
            and not ACTING.search(ON_BEHALF.sub("", folded))
        )
        if intent != POLICY and intent not in CHITCHAT and intent != "out_of_scope" and not asking:
            return Reading(intent, kinds[intent], kinds=kinds_top)
        reading = self._policy(text, vector, grams, kinds_top, topic, with_topic)
        if (
            intent == POLICY
            and reading.decision == "unknown"
            and not reading.followup
            and kinds.get("out_of_scope", 0.0) >= self.params.out_of_scope_unknown
            and not _in_domain(folded)
        ):
            # no entry fits, nothing of the plan is named and out of scope is a real second reading
            # ("今朝寻乌落不落雨"): say so, rather than "I have no reliable record"
            return Reading(
                "out_of_scope", kinds["out_of_scope"], "out_of_scope", reading.ranking, reading.ids, kinds=kinds_top
            )
        if intent == POLICY:
            return reading
        if asking:
            # "我是问 …有冇补助", "老板把我辞了 这合法吗": they ask to know, not for someone to act
            return (
                reading
                if reading.decision in ("answer", "clarify")
                else Reading(intent, kinds[intent], kinds=kinds_top)
            )
        if intent == "out_of_scope" and reading.decision in ("answer", "clarify") and _in_domain(folded):
            return reading  # "低保一个月多少": a word of the plan's own is not out of scope
        if intent in CHITCHAT and reading.decision == "answer" and reading.ids[0][1] >= self.params.chitchat_answer:
            return reading  # "你好，我想问护理补贴怎么申请"
        if (
            intent == "out_of_scope"
            and reading.followup
            and reading.decision == "answer"
            and self._follows(text, kinds)
        ):
            return reading
        # out_of_scope, or small talk: keep the ranking for the report and for follow-ups
        return Reading(
            intent,
            kinds[intent],
            "out_of_scope" if intent == "out_of_scope" else None,
            reading.ranking,
            reading.ids,
            kinds=kinds_top,
        )

    def _wants_person(self, intent: str, folded: str) -> bool:
        """Does a message read as something else ask for a person or a number to call one?
        Not a new need ("请工作人员帮我申请…" is a request), not a long story, not a message for
        the staff of a filed request."""
        if intent not in (POLICY, "request_help", "add_to_ticket", "thanks", "out_of_scope"):
            return False
        if len(folded) > self.params.person_chars or NEW_NEED.search(folded) or PASS_ON.search(folded):
            return False
        return bool(A_PERSON.search(folded))

    def _follows(self, text: str, kinds: dict[str, float]) -> bool:
        """Is an out-of-scope reading right after an answer a follow-up to it? "贷款呢" after a
        jobs answer is; "驾照到期了 在哪里换" after a card answer is not (that look-alike is certain)."""
        return (
            _few_words(text) or bool(FOLLOWUP_LEAD.match(text)) or kinds["out_of_scope"] < self.params.out_of_scope_sure
        )

    def _urgent(self, p: float, found: danger.Danger, folded: str) -> bool:
        if found.crisis:
            return True
        if not found.any:
            if ALL_CLEAR.match(folded):
                return False  # "冇事了 我去煮饭了"
            if MEASURE_QUESTION.search(folded):
                # "我老弟…冇老婆冇崽 他这种能进特困供养冇": a question about a measure, unless the
                # model is as sure as it must be of a story of the past
                return p >= self.params.urgent_past
        if found.past:
            if found.safe:
                return False  # "上个月失火…人冇事": a story of what happened, told to ask about help
            return p >= self.params.urgent_past or (found.strong and p >= self.params.urgent)
        if p >= self.params.urgent or found.strong:
            return True
        return found.any and p >= self.params.urgent_with_word

    def entry_probabilities(
        self, texts: Sequence[str], vectors: np.ndarray | None = None, grams: Any = None
    ) -> np.ndarray:
        """P(entry | text) for each text: the geometric mean of the two entry models."""
        vectors = self.embed(list(texts)) if vectors is None else vectors
        grams = self.ngrams.transform(list(texts)) if grams is None else grams
        p = np.sqrt(self.entry_emb.proba(vectors) * self.entry_ngram.proba(grams))
        return p / p.sum(axis=1, keepdims=True)

    def _policy(
        self,
        text: str,
        vector: np.ndarray,
        grams: Any,
        kinds: dict,
        topic: Entry | None = None,
        topic_vector: np.ndarray | None = None,
    ) -> Reading:
        """The policy reading of `text`; after an answer, ranked with `topic` (the entry just
        answered) too, whose reading with the message is `topic_vector`."""
        p = self.entry_probabilities([text], vector, grams)[0]
        followup = topic is not None
        if topic is not None:
            with_topic = self.entry_probabilities([f"{topic.title} {text}"], topic_vector)[0]
            own = _own_words(text)
            short = len(squash(text)) <= self.params.short_chars and len(own) < 2
            # a few words whose ranking alone is vague ("怎么报名", "包吃住么") lean on the topic too,
            # and so does one made of nothing but such words, however long ("一个月要交几多钱");
            # unless they are small talk ("好 谢了")
            vague = len(own) <= 4 and (float(p.max()) < self.params.vague_alone or not own)
            short = short or (vague and bool(kinds) and max(kinds, key=kinds.__getitem__) not in CHITCHAT)
            mix = self.params.context_mix_short if short else self.params.context_mix
            p = (1 - mix) * p + mix * with_topic
        by_id = np.zeros(len(self._id_order))
        np.add.at(by_id, self._id_index, p)
        id_rank = np.argsort(-by_id)
        ids = tuple((self._id_order[i], float(by_id[i])) for i in id_rank[:6])
        order = np.argsort(-p)
        keys = self.entry_emb.classes
        ranking = tuple(Candidate(keys[i], self._entry_ids[i], float(p[i])) for i in order[:8])
        decision, options = decide(ids, ranking, self.params)
        return Reading(POLICY, ids[0][1], decision, ranking, ids, options, followup=followup, kinds=kinds)


def decide(
    ids: Sequence[tuple[str, float]], ranking: Sequence[Candidate], params: Params
) -> tuple[str, tuple[str, ...]]:
    """Answer, offer options (one per plausible knowledge ID: its best entry), or admit not knowing."""
    (_, p1), (_, p2) = ids[0], ids[1]
    if p1 >= params.answer:
        return "answer", ()
    if p2 >= params.clarify_second and p1 + p2 >= params.clarify_cover:
        options = []
        for kid, prob in ids[:3]:
            best = next((c.key for c in ranking if c.id == kid), None)
            if prob >= params.option and best:
                options.append(best)
        if len(options) >= 2:
            return "clarify", tuple(options)
    return "unknown", ()


def _joined(vectors: np.ndarray, grams: Any, weight: float) -> Any:
    """Embedding (scaled by `weight`) and character n-grams side by side (sparse)."""
    import scipy.sparse as sp

    return sp.hstack([sp.csr_matrix(vectors * weight), grams]).tocsr()


def _in_domain(folded: str) -> bool:
    """Does the message name something only this plan is about (低保, 残疾证, 助听器 …)?"""
    return bool(IN_DOMAIN.search(folded)) and not NOT_DISABLED.search(folded)


def _own_words(text: str) -> str:
    """What a follow-up says once the words that could follow any answer go ("养老保险呢" → 养老保险)."""
    return GENERIC.sub("", squash(normalise(text)))


def _asks_to_act(folded: str) -> bool:
    """Does a question ask staff to act on the writer's own case ("我婆婆听不见 能不能帮她弄一个",
    "残联能帮我出面要吗"), rather than whether, where or how a measure applies?"""
    if WHETHER.search(folded):
        return False
    return bool(FOR_ME.search(folded) or (OWN_FAMILY.search(folded) and ASK_TO_ACT.search(folded)))


def _few_words(text: str) -> bool:
    """A follow-up whose own words are few ("贷款呢", "养老保险呢")."""
    return len(_own_words(text)) <= 4
