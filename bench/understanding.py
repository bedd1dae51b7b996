"""What the assistant understands, measured the way an outsider would: through Rasa's REST
channel and tracker (the answer contract), on evaluation sets written blind.

`python -m bench.understanding [--set dev|heldout|NAME …]`. The sets live in
`bench/eval/2026-12/` (see the README there: who wrote them, when, what they have seen):
- `*-single.yml`: first messages of new conversations, policy questions and needs
  (help requests, asking for a person, status, additions, voice, danger, small talk, out of scope);
- `*-dialogue.yml`: conversations, turn by turn (follow-ups, numbered options answered with
  二 / ２ / a new question, offers of a person, the help form with slips, danger mid-way).

Figures (the knowledge issue's table), for the full system and, side by side, two plain peers
over the project's own training examples: nearest-neighbour search with multilingual-e5-small
and the lexical ranker (both: the label of the best-matching example, no thresholds):
- direct: a policy question answered directly (no numbered options) with the right entry;
- menu: a policy question met with numbered options; menu_right: … whose options hold the right one;
- first: the right entry first (the answer, or a menu's first option);
- wrong: a direct answer with the wrong entry (the costly error);
- recall and precision per intent (contract names: request_help, human, urgent, …);
- dialogue success: every turn of a dialogue right.
"""

from __future__ import annotations

import argparse
import json
import re
import tempfile
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bench.harness import Running, save, services
from common.config import ROOT

SETS = ROOT / "bench" / "eval" / "2026-12"
# Contract intent names of the non-policy intents (shared/spec/knowledge-ids.md).
NON_POLICY = (
    "greet",
    "goodbye",
    "thanks",
    "request_help",
    "human",
    "urgent",
    "add_to_ticket",
    "voice_on",
    "voice_off",
    "ticket_status",
    "out_of_scope",
)
# Labels an evaluation item can carry: the contract intents and `policy`.
LABELS = ("policy", *NON_POLICY)
MAX_FORM_TURNS = 14
# The persona field the form's requested slot asks for.
FORM_FIELDS = {
    "contact_name": "name",
    "phone": "phone",
    "township": "township",
    "description": "what",
    "confirm": "confirm",
}
DIGIT_STYLES = {
    "ascii": lambda n: str(n),
    "fullwidth": lambda n: chr(0xFF10 + n),
    "chinese": lambda n: "零一二三四五六七八九"[n],
}


def load_set(path: Path) -> dict:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def set_paths(name: str) -> tuple[Path | None, Path | None]:
    """The single and dialogue files of a named set (either may be missing)."""
    single, dialogue = SETS / f"{name}-single.yml", SETS / f"{name}-dialogue.yml"
    return (single if single.is_file() else None), (dialogue if dialogue.is_file() else None)


# -- observing one turn ---------------------------------------------------------------------
@dataclass
class Turn:
    """What the assistant did with one message, read from its replies and its tracker."""

    text: str
    intent: str
    sources: list[str]
    replies: list[str]
    buttons: int
    pending: dict | None
    active_loop: str | None
    requested_slot: str | None
    decision: str | None
    ticket: str | None = None
    menu_ids: list[str] = field(default_factory=list)

    @property
    def menu(self) -> bool:
        """Numbered options about policy entries were offered."""
        return bool(self.pending and self.pending.get("type") == "clarify")

    @property
    def offers_person(self) -> bool:
        return bool(self.pending and self.pending.get("type") in ("offer_staff", "offer_person"))

    def as_dict(self) -> dict:
        return {
            "text": self.text,
            "intent": self.intent,
            "sources": self.sources,
            "menu": self.menu,
            "decision": self.decision,
            "loop": self.active_loop,
            "slot": self.requested_slot,
            "reply": " / ".join(self.replies)[:160],
        }


def send(running: Running, sender: str, text: str) -> Turn:
    replies = running.post(sender, text)
    tracker = running.tracker(sender)
    latest = tracker.get("latest_message") or {}
    slots = tracker.get("slots") or {}
    knowledge = latest.get("knowledge") or {}
    pending = slots.get("pending") if isinstance(slots.get("pending"), dict) else None
    ticket = next(
        (r["custom"]["ticket"] for r in replies if isinstance(r.get("custom"), dict) and r["custom"].get("ticket")),
        None,
    )
    loop = (tracker.get("active_loop") or {}).get("name")
    return Turn(
        text=text,
        intent=(latest.get("intent") or {}).get("name") or "",
        sources=list(slots.get("answer_sources") or []),
        replies=[r["text"] for r in replies if r.get("text")],
        buttons=sum(len(r.get("buttons") or []) for r in replies),
        pending=pending,
        active_loop=loop,
        requested_slot=slots.get("requested_slot") if loop else None,
        decision=knowledge.get("decision"),
        ticket=ticket,
        menu_ids=list(slots.get("answer_sources") or []) if pending and pending.get("type") == "clarify" else [],
    )


def contract_label(turn: Turn) -> str:
    """The label an outsider reads off the tracker: a contract intent, or `policy`."""
    return turn.intent if turn.intent in NON_POLICY else "policy"


# The disability card and its assessment: the writers' brief filed them under m7.1 (大数据管理),
# the project's knowledge/TOPICS.md under m1.5 (社会福利制度); the plan itself names neither. A
# question labelled m7.1 that is about the card or its grades therefore also accepts m1.5 (a
# mechanical rule, applied to every set alike).
CARD = re.compile(r"[证證]|评残|評殘|等级|等級|评定|評定|鉴定|鑒定|几级|幾級|评级|評級")


def acceptable_ids(item: dict) -> set[str]:
    if not item.get("id"):
        return set()
    ok = {item["id"], *(item.get("also") or [])}
    if item["id"] == "m7.1" and CARD.search(item.get("q") or item.get("say") or ""):
        ok.add("m1.5")
    return ok


# -- singles -------------------------------------------------------------------------------
def run_singles(running: Running, items: list[dict], prefix: str) -> list[Turn]:
    return [send(running, f"{prefix}-{i}", item["q"]) for i, item in enumerate(items)]


def _rate(hits: int, n: int) -> float | None:
    return round(hits / n, 3) if n else None


def policy_figures(items: list[dict], turns: list[Turn]) -> dict:
    """Direct / menu / first / wrong on the policy questions of a set."""
    rows = []
    for item, turn in zip(items, turns, strict=True):
        if item["expect"] != "policy":
            continue
        ok = acceptable_ids(item)
        answered = bool(turn.sources) and not turn.menu and contract_label(turn) == "policy"
        rows.append(
            {
                "difficulty": item.get("difficulty", "?"),
                "direct": answered and turn.sources[0] in ok,
                "menu": turn.menu,
                "menu_right": turn.menu and bool(ok & set(turn.menu_ids)),
                "first": bool(turn.sources) and turn.sources[0] in ok,
                "wrong": answered and turn.sources[0] not in ok,
                "unknown": turn.offers_person and not turn.sources,
                "out_of_scope": turn.intent == "out_of_scope",
            }
        )

    def summary(rs: list[dict]) -> dict:
        n = len(rs)
        menus = [r for r in rs if r["menu"]]
        return {
            "n": n,
            "direct": _rate(sum(r["direct"] for r in rs), n),
            "menu": _rate(len(menus), n),
            "menu_right": _rate(sum(r["menu_right"] for r in menus), len(menus)),
            "first": _rate(sum(r["first"] for r in rs), n),
            "wrong": _rate(sum(r["wrong"] for r in rs), n),
            "unknown": _rate(sum(r["unknown"] for r in rs), n),
            "out_of_scope": _rate(sum(r["out_of_scope"] for r in rs), n),
        }

    by_difficulty = defaultdict(list)
    for r in rows:
        by_difficulty[r["difficulty"]].append(r)
    return {"all": summary(rows), **{f"difficulty {k}": summary(v) for k, v in sorted(by_difficulty.items())}}


def intent_figures(expected: list[str], predicted: list[str]) -> dict:
    """Recall and precision per label (policy counts as one label)."""
    out = {}
    for label in LABELS:
        tp = sum(e == label and p == label for e, p in zip(expected, predicted, strict=True))
        n_exp = sum(e == label for e in expected)
        n_pred = sum(p == label for p in predicted)
        if n_exp or n_pred:
            out[label] = {"n": n_exp, "recall": _rate(tp, n_exp), "precision": _rate(tp, n_pred)}
    non_policy = [(e, p) for e, p in zip(expected, predicted, strict=True) if e != "policy"]
    out["non-policy overall"] = {
        "n": len(non_policy),
        "recall": _rate(sum(e == p for e, p in non_policy), len(non_policy)),
    }
    return out


def confusions(expected: list[str], predicted: list[str], texts: list[str], top: int = 40) -> list[str]:
    pairs = Counter((e, p) for e, p in zip(expected, predicted, strict=True) if e != p)
    examples = defaultdict(list)
    for e, p, t in zip(expected, predicted, texts, strict=True):
        if e != p and len(examples[(e, p)]) < 3:
            examples[(e, p)].append(t[:40])
    return [f"{e} → {p}: {n}  e.g. {' | '.join(examples[(e, p)])}" for (e, p), n in pairs.most_common(top)]


# -- peers ---------------------------------------------------------------------------------
def training_examples() -> list[tuple[str, str, str]]:
    """(text, label, knowledge id or "") of every training example of the project."""
    from knowledge.base import load

    rows = [(x, "policy", e.id) for e in load().entries for x in e.examples]
    for path in sorted((ROOT / "data" / "nlu").glob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in doc.get("nlu") or []:
            if "intent" not in block:
                continue
            intent = block["intent"]
            label = intent if intent in NON_POLICY else "policy" if intent in ("ask_policy", "ask_followup") else None
            if label is None:
                continue
            for line in str(block.get("examples") or "").splitlines():
                if line.strip().startswith("- "):
                    rows.append((line.strip()[2:].strip(), label, ""))
    return rows


def peer_predictions(texts: list[str]) -> dict[str, list[tuple[str, str]]]:
    """(label, knowledge id) of the nearest training example: by e5 over every example, by the
    lexical ranker over every example, and by e5 over the policy examples only."""
    import numpy as np

    from knowledge.embedding import embedder
    from knowledge.lexical import LexicalIndex

    rows = training_examples()
    enc = embedder().encode
    vectors = enc([r[0] for r in rows])
    queries = enc(texts)
    best = (queries @ vectors.T).argmax(axis=1)
    e5 = [(rows[i][1], rows[i][2]) for i in best]
    policy = [i for i, r in enumerate(rows) if r[1] == "policy"]
    best_policy = (queries @ vectors[policy].T).argmax(axis=1)
    e5_policy = [(rows[policy[i]][1], rows[policy[i]][2]) for i in best_policy]
    index = LexicalIndex([[r[0]] for r in rows])
    lexical = []
    for text in texts:
        scores = np.asarray(index.scores(text))
        i = int(scores.argmax())
        lexical.append((rows[i][1], rows[i][2]))
    # the third peer is told that every message is a policy question: its entry ranking alone
    return {"e5 nearest neighbour": e5, "lexical ranker": lexical, "e5 NN, policy examples only": e5_policy}


def peer_figures(items: list[dict], predictions: list[tuple[str, str]]) -> dict:
    policy = [(it, p) for it, p in zip(items, predictions, strict=True) if it["expect"] == "policy"]
    top1 = sum(p[0] == "policy" and p[1] in acceptable_ids(it) for it, p in policy)
    expected = [it["expect"] for it in items]
    return {
        "policy_first": _rate(top1, len(policy)),
        "intents": intent_figures(expected, [p[0] for p in predictions]),
    }


# -- dialogues -----------------------------------------------------------------------------
def digits_as(n: int, style: str) -> str:
    """The number `n` typed the way a resident wrote `style` ("二", "２", "2", "两", "第二个")."""
    s = unicodedata.normalize("NFKC", style).strip()
    if s.startswith("第"):
        return f"第{DIGIT_STYLES['chinese'](n)}个"
    if s == "两":
        return "两" if n == 2 else DIGIT_STYLES["chinese"](n)
    if re.fullmatch(r"\d+", style.strip()):
        return DIGIT_STYLES["ascii"](n)
    if re.fullmatch(r"[０-９]+", style.strip()):
        return DIGIT_STYLES["fullwidth"](n)
    return DIGIT_STYLES["chinese"](n)


def judge(expect: str, item: dict, turn: Turn, before: Turn | None) -> bool:
    """Was the assistant's handling of this turn right (see the module docstring)?"""
    label = contract_label(turn)
    if expect == "policy":
        return bool(turn.sources) and turn.sources[0] in acceptable_ids(item) and label == "policy"
    if expect in ("request_help", "human"):
        # Either intent is a right reading when the reply leads to a person (the form or an offer).
        return turn.intent in ("request_help", "human")
    if expect == "none_fits":
        return turn.offers_person or turn.active_loop is not None
    if expect == "affirm":
        return turn.intent in ("affirm", "choose") or (turn.active_loop is not None and before is not None)
    if expect == "deny":
        return turn.intent in ("deny", "choose") and turn.active_loop is None
    return turn.intent == expect


def ticket_of(running: Running, sender: str) -> dict | None:
    from tickets.store import store_for

    mine = store_for(running.cfg.database_url).for_sender(sender)
    if not mine:
        return None
    t = mine[0]
    return {"number": t.number, "phone": t.phone, "township": t.township, "name": t.contact_name}


def open_ticket(running: Running, sender: str) -> None:
    """`setup: open_ticket`: the resident filed a help request before this conversation."""
    from tickets.store import store_for

    store_for(running.cfg.database_url).create(
        sender_id=sender,
        contact_name="居民",
        phone="",
        township="长宁镇",
        category="其他",
        description="（评测：这位居民之前提交的求助）",
    )


def run_form(running: Running, sender: str, spec: dict, first: Turn) -> tuple[bool, list[dict], str]:
    """Answer the form's questions from the persona; right when the stored ticket matches."""
    persona = spec.get("form") or {}
    slips = dict(persona.get("slips") or {})
    want = spec.get("expect_ticket") or {}
    log: list[dict] = []
    turn = first
    before_tickets = ticket_of(running, sender)
    for _ in range(MAX_FORM_TURNS):
        if turn.active_loop is None or not turn.requested_slot:
            break
        slot = turn.requested_slot
        fieldname = FORM_FIELDS.get(slot)
        if fieldname is None:
            text = "8" if slot == "category" else "好"
        elif fieldname in slips:
            text = slips.pop(fieldname)
        else:
            fallback = {"what": "对 就是这样", "phone": "没有电话"}.get(fieldname, "好")
            text = str(persona.get(fieldname) or "") or fallback
        turn = send(running, sender, text)
        log.append({**turn.as_dict(), "asked": slot})
    ticket = ticket_of(running, sender)
    if ticket is None or (before_tickets and ticket["number"] == before_tickets["number"]):
        return False, log, "no ticket"
    digits = re.sub(r"\D", "", ticket["phone"] or "")
    if want.get("phone") is not None and digits != re.sub(r"\D", "", str(want["phone"])):
        return False, log, f"phone {ticket['phone']!r}"
    if want.get("township") and ticket["township"] != want["township"]:
        return False, log, f"township {ticket['township']!r}"
    slipped = (persona.get("slips") or {}).get("name")
    if slipped and ticket["name"] == slipped:
        return False, log, "a question stored as the name"
    return True, log, "ok"


def run_dialogue(running: Running, sender: str, dialogue: dict) -> dict:
    if dialogue.get("setup") == "open_ticket":
        open_ticket(running, sender)
    results: list[dict] = []
    last: Turn | None = None
    for spec in dialogue["turns"]:
        if "pick" in spec:
            if last is None or not last.menu:
                continue  # no options were shown: nothing to pick
            wanted = {spec["pick"], *(spec.get("also") or [])}
            options = (last.pending or {}).get("ids") or last.menu_ids
            index = next((i for i, kid in enumerate(options, 1) if kid in wanted), None)
            if index is None:
                results.append({"kind": "pick", "right": False, "why": "no right option", "turn": last.as_dict()})
                continue
            turn = send(running, sender, digits_as(index, str(spec.get("as", "1"))))
            right = bool(turn.sources) and turn.sources[0] in wanted and not turn.menu
            results.append({"kind": "pick", "right": right, "turn": turn.as_dict()})
            last = turn
            continue
        if "form" in spec:
            if last is None or last.active_loop is None:
                results.append({"kind": "form", "right": False, "why": "no form running"})
                continue
            right, log, why = run_form(running, sender, spec, last)
            results.append({"kind": "form", "right": right, "why": why, "turns": log})
            last = None
            continue
        turn = send(running, sender, spec["say"])
        right = judge(spec["expect"], spec, turn, last)
        results.append({"kind": spec["expect"], "right": right, "expect_id": spec.get("id"), "turn": turn.as_dict()})
        last = turn
    return {"name": dialogue["name"], "right": all(r["right"] for r in results), "turns": results}


def dialogue_figures(runs: list[dict]) -> dict:
    by_kind: dict[str, list[bool]] = defaultdict(list)
    for run in runs:
        for r in run["turns"]:
            by_kind[r["kind"]].append(r["right"])
    turns = [r["right"] for run in runs for r in run["turns"]]
    return {
        "dialogues": len(runs),
        "success": _rate(sum(r["right"] for r in runs), len(runs)),
        "turns": len(turns),
        "turns_right": _rate(sum(turns), len(turns)),
        "by_kind": {k: {"n": len(v), "right": _rate(sum(v), len(v))} for k, v in sorted(by_kind.items())},
    }


# -- the whole benchmark ---------------------------------------------------------------------
def evaluate(name: str, running: Running, peers: bool = True) -> dict:
    single_path, dialogue_path = set_paths(name)
    result: dict[str, Any] = {"set": name}
    if single_path:
        items = load_set(single_path)["questions"]
        turns = run_singles(running, items, f"u-{name}")
        expected = [it["expect"] for it in items]
        predicted = [contract_label(t) for t in turns]
        result["single"] = {
            "file": str(single_path.relative_to(ROOT)),
            "n": len(items),
            "policy": policy_figures(items, turns),
            "intents": intent_figures(expected, predicted),
            "confusions": confusions(expected, predicted, [it["q"] for it in items]),
            "misses": [
                {"expect": it["expect"], "id": it.get("id"), **t.as_dict()}
                for it, t in zip(items, turns, strict=True)
                if not (
                    (it["expect"] == "policy" and t.sources and t.sources[0] in acceptable_ids(it) and not t.menu)
                    or (it["expect"] != "policy" and contract_label(t) == it["expect"])
                )
            ],
        }
        if peers:
            result["single"]["peers"] = {
                peer: peer_figures(items, preds) for peer, preds in peer_predictions([it["q"] for it in items]).items()
            }
    if dialogue_path:
        dialogues = load_set(dialogue_path)["dialogues"]
        runs = [run_dialogue(running, f"d-{name}-{i}", d) for i, d in enumerate(dialogues)]
        result["dialogue"] = {
            "file": str(dialogue_path.relative_to(ROOT)),
            **dialogue_figures(runs),
            "failed": [r for r in runs if not r["right"]],
        }
    return result


def markdown(result: dict) -> str:
    lines = [f"### Set `{result['set']}`", ""]
    single = result.get("single")
    if single:
        p = single["policy"]["all"]
        dash = " – |" * len(single.get("peers", {}))
        lines += [
            f"Single messages: {single['n']} ({single['file']}); policy questions: {p['n']}.",
            "",
            "| figure | full system |" + "".join(f" {k} |" for k in single.get("peers", {})),
            "|---|---|" + "---|" * len(single.get("peers", {})),
            f"| policy answered directly with the right entry | **{p['direct']}** |" + dash,
            f"| policy met with numbered options | {p['menu']} |" + dash,
            f"| … options that hold the right entry | {p['menu_right']} |" + dash,
            f"| right entry first | **{p['first']}** |"
            + "".join(f" {v['policy_first']} |" for v in single.get("peers", {}).values()),
            f"| confident answer with the wrong entry | {p['wrong']} |" + dash,
        ]
        for diff in ("easy", "medium", "hard"):
            d = single["policy"].get(f"difficulty {diff}")
            if d:
                lines.append(f"| right entry first, {diff} (n={d['n']}) | {d['first']} (direct {d['direct']}) |" + dash)
        for label, f in single["intents"].items():
            if label == "policy":
                continue
            peer_cells = "".join(
                f" {v['intents'].get(label, {}).get('recall')} |" for v in single.get("peers", {}).values()
            )
            prec = f", precision {f['precision']}" if f.get("precision") is not None else ""
            lines.append(f"| {label} recall (n={f['n']}) | {f['recall']}{prec} |{peer_cells}")
        lines.append("")
    dialogue = result.get("dialogue")
    if dialogue:
        lines += [
            f"Dialogues: {dialogue['dialogues']} ({dialogue['file']}), {dialogue['turns']} judged turns: "
            f"**{dialogue['success']}** of dialogues right in every turn; {dialogue['turns_right']} of turns right.",
            "",
            "| turn kind | n | right |",
            "|---|---|---|",
            *[f"| {k} | {v['n']} | {v['right']} |" for k, v in dialogue["by_kind"].items()],
            "",
        ]
    return "\n".join(lines)


def run(names: list[str] | None = None, peers: bool = True, full_out: Path | None = None) -> dict:
    """Every named set (default: all) through one start of the services; the slim result is saved."""
    names = names or sorted({p.name.rsplit("-", 1)[0] for p in SETS.glob("*-*.yml")})
    with tempfile.TemporaryDirectory() as tmp, services(Path(tmp)) as running:
        results = [evaluate(n, running, peers=peers) for n in names]
    if full_out:
        full_out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")
    slim = []
    for r in results:
        r = dict(r)
        if "single" in r:
            r["single"] = {k: v for k, v in r["single"].items() if k != "misses"}
        if "dialogue" in r:
            r["dialogue"] = {k: v for k, v in r["dialogue"].items() if k != "failed"}
        slim.append(r)
    return {"sets": slim, "command": "make bench (or: .venv/bin/python -m bench understanding)"}


def markdown_all(result: dict) -> str:
    return "\n".join(markdown(r) for r in result["sets"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", dest="sets", action="append", help="set names under bench/eval/2026-12 (default: all)")
    parser.add_argument("--no-peers", action="store_true", help="skip the two plain peers")
    parser.add_argument("--out", type=Path, help="also write the full result (with every miss) to this JSON file")
    args = parser.parse_args(argv)
    result = run(args.sets, peers=not args.no_peers, full_out=args.out)
    save("understanding", result)
    print(markdown_all(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
