"""Answer quality on the evaluation set: the full system (through Rasa's HTTP API, the answer
contract) and a lexical-only baseline, side by side, per plan area and per difficulty.

`python -m bench.quality` (or `make bench`). The evaluation set, `bench/eval/questions.yml`,
was written by someone who never saw `knowledge/`; its questions are not in the training data.
It was used once to choose between two ways of deciding scope. The held-out set,
`bench/eval/holdout.yml`, was written the same way after all tuning and has been used for
no decision: it is the check that the first set's figures are not the product of tuning.

For each in-scope question:
- top-1 (contract): the first ID of `answer_sources` after the reply is the labelled ID.
  A clarifying question counts by its first option; "I don't know" counts as a miss.
- top-3: the labelled ID is among the first three distinct IDs of the system's ranking
  (`latest_message.knowledge.ranking`).
- honest fallback: the reply said "I don't know" (decision `unknown`).
- wrong answer: a confident answer with the wrong ID (the costly error).
Out-of-scope questions count as right when the intent is `out_of_scope`.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import yaml

from bench.harness import save, services
from common.config import ROOT
from knowledge.base import area_of, load
from knowledge.lexical import LexicalIndex

EVAL = ROOT / "bench" / "eval" / "questions.yml"
HOLDOUT = ROOT / "bench" / "eval" / "holdout.yml"
TARGET_TOP1 = 0.90  # the knowledge issue's target, on in-scope questions


def questions(path: Path = EVAL) -> list[dict]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["questions"]


_NOISE = re.compile(r"[\s\W_]+")


def normalised(text: str) -> str:
    """A question without spaces and punctuation, lower-cased: what "the same question" means here."""
    return _NOISE.sub("", text).lower()


def training_texts() -> set[str]:
    """Every training example (knowledge/ and the out-of-scope examples of data/nlu), normalised."""
    return {normalised(t) for e in load().entries for t in e.examples} | {normalised(t) for t in negatives()}


def distinct(ids: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(ids))


def negatives() -> list[str]:
    doc = yaml.safe_load((ROOT / "data" / "nlu" / "out_of_scope.yml").read_text(encoding="utf-8"))
    block = next(i for i in doc["nlu"] if i.get("intent") == "out_of_scope")["examples"]
    return [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]


def lexical_rankings(items: list[dict]) -> list[list[str]]:
    """The lexical-only baseline: idf-weighted token coverage of each entry's texts, no embedding, no NLU."""
    entries = load().entries
    index = LexicalIndex([[e.title, *e.examples, e.answer] for e in entries])
    out = []
    for item in items:
        scores = index.scores(item["q"])
        order = sorted(range(len(entries)), key=lambda i: -scores[i])
        out.append(distinct(entries[i].id for i in order))
    return out


def system_results(items: list[dict]) -> list[dict]:
    """Every question through the running assistant, each in a new conversation."""
    results = []
    with tempfile.TemporaryDirectory() as tmp, services(Path(tmp)) as running:
        for i, item in enumerate(items):
            sender = f"eval-{i}"
            running.post(sender, item["q"])
            tracker = running.tracker(sender)
            latest = tracker["latest_message"]
            knowledge = latest.get("knowledge") or {}
            results.append(
                {
                    "intent": latest["intent"]["name"],
                    "decision": knowledge.get("decision"),
                    "sources": tracker["slots"].get("answer_sources") or [],
                    "ranking": distinct(r["id"] for r in knowledge.get("ranking", [])),
                }
            )
    return results


def _rate(hits: int, n: int) -> float:
    return round(hits / n, 3) if n else 0.0


def score(items: list[dict], system: list[dict], lexical: list[list[str]], seen: set[str] | None = None) -> dict:
    """The figures of one evaluation set; `seen`: normalised training examples, to count overlaps."""
    groups: dict[str, dict[str, list]] = {"area": defaultdict(list), "difficulty": defaultdict(list)}
    rows = []
    seen = seen or set()
    for item, sys_r, lex_r in zip(items, system, lexical, strict=True):
        kid = item["id"]
        in_training = normalised(item["q"]) in seen
        if kid == "out_of_scope":
            rows.append(
                {
                    "oos": True,
                    "seen": in_training,
                    "right": sys_r["intent"] == "out_of_scope",
                    "answered": bool(sys_r["sources"]),
                }
            )
            continue
        row = {
            "oos": False,
            "seen": in_training,
            "top1": bool(sys_r["sources"]) and sys_r["sources"][0] == kid,
            "top3": kid in sys_r["ranking"][:3],
            "lex_top1": bool(lex_r) and lex_r[0] == kid,
            "lex_top3": kid in lex_r[:3],
            "fallback": sys_r["decision"] == "unknown",
            "wrong": sys_r["decision"] == "answer" and bool(sys_r["sources"]) and sys_r["sources"][0] != kid,
            "said_oos": sys_r["intent"] == "out_of_scope",
        }
        rows.append(row)
        groups["area"][area_of(kid)].append(row)
        groups["difficulty"][item.get("difficulty", "?")].append(row)

    def summary(rs: list[dict]) -> dict:
        n = len(rs)
        return {
            "n": n,
            "top1": _rate(sum(r["top1"] for r in rs), n),
            "top3": _rate(sum(r["top3"] for r in rs), n),
            "lexical_top1": _rate(sum(r["lex_top1"] for r in rs), n),
            "lexical_top3": _rate(sum(r["lex_top3"] for r in rs), n),
            "honest_fallback": _rate(sum(r["fallback"] for r in rs), n),
            "wrong_answer": _rate(sum(r["wrong"] for r in rs), n),
            "said_out_of_scope": _rate(sum(r["said_oos"] for r in rs), n),
        }

    inscope = [r for r in rows if not r["oos"]]
    oos = [r for r in rows if r["oos"]]
    unseen_in = [r for r in inscope if not r["seen"]]
    unseen_oos = [r for r in oos if not r["seen"]]
    return {
        "also_training_examples": {
            "in_scope": len(inscope) - len(unseen_in),
            "out_of_scope": len(oos) - len(unseen_oos),
            "top1_without_them": _rate(sum(r["top1"] for r in unseen_in), len(unseen_in)),
            "oos_recognised_without_them": _rate(sum(r["right"] for r in unseen_oos), len(unseen_oos)),
        },
        "overall": summary(inscope),
        "by_area": {k: summary(v) for k, v in sorted(groups["area"].items())},
        "by_difficulty": {k: summary(v) for k, v in sorted(groups["difficulty"].items())},
        "out_of_scope": {
            "n": len(oos),
            "recognised": _rate(sum(r["right"] for r in oos), len(oos)),
            "answered_with_policy": _rate(sum(r["answered"] for r in oos), len(oos)),
        },
    }


def _table(result: dict) -> list[str]:
    head = "| group | n | lexical top-1 | lexical top-3 | full top-1 | full top-3 | honest fallback | wrong answer |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]

    def line(name: str, s: dict) -> str:
        return (
            f"| {name} | {s['n']} | {s['lexical_top1']:.2f} | {s['lexical_top3']:.2f} | **{s['top1']:.2f}** | "
            f"{s['top3']:.2f} | {s['honest_fallback']:.2f} | {s['wrong_answer']:.2f} |"
        )

    lines.append(line("all in-scope", result["overall"]))
    lines += [line(f"area {k}", v) for k, v in result["by_area"].items()]
    lines += [line(f"difficulty {k}", v) for k, v in result["by_difficulty"].items()]
    o = result["out_of_scope"]
    lines.append("")
    lines.append(
        f"Out-of-scope look-alikes: {o['n']} questions, recognised as out_of_scope {o['recognised']:.2f}, "
        f"answered with a policy entry {o['answered_with_policy']:.2f}."
    )
    seen = result.get("also_training_examples")
    if seen:
        lines.append(
            f"Questions that are also, word for word, a training example (short everyday phrasings both writers "
            f"chose): {seen['in_scope']} in scope, {seen['out_of_scope']} out of scope. Without them: full top-1 "
            f"{seen['top1_without_them']:.2f}, out of scope recognised {seen['oos_recognised_without_them']:.2f}."
        )
    return lines


def markdown(result: dict) -> str:
    lines = _table(result)
    if result.get("holdout"):
        lines += [
            "",
            f"Held-out set (`{HOLDOUT.relative_to(ROOT)}`, written after all tuning, used for no decision):",
            "",
            *_table(result["holdout"]),
        ]
    return "\n".join(lines)


def run() -> dict:
    items = questions()
    held = questions(HOLDOUT) if HOLDOUT.is_file() else []
    system = system_results(items + held)  # one start of the services for both sets
    lexical = lexical_rankings(items + held)
    n = len(items)
    seen = training_texts()
    result = score(items, system[:n], lexical[:n], seen)
    if held:
        result["holdout"] = score(held, system[n:], lexical[n:], seen)
    result["command"] = "make bench (or: .venv/bin/python -m bench.quality)"
    save("quality", result)
    return result


def main() -> None:
    argparse.ArgumentParser(description=__doc__).parse_args()
    result = run()
    print(markdown(result))
    print(json.dumps(result["overall"], ensure_ascii=False))


if __name__ == "__main__":
    main()
