"""The staff report: what residents asked in a period, per plan measure and area, and what
they did not get.

`build_report(store, start, end)` counts the logged questions (the `questions` table that
actions/answer.py fills with anonymised texts): per knowledge ID and per plan area (names
from knowledge/ids.yml and knowledge/areas.yml), per decision; each question counts once,
for its best-matching ID. Then the gaps, which the county's plan asks it to watch (规划
六（三）, monitoring): answers that said "我这里没有可靠的记录" (the county's own figure or
office is not known here), menus that ended in "都不是", questions it could not answer,
questions out of its scope, and people in danger — each listed anonymised (phones masked
once more) with how often it was asked, and per plan measure where one is known. No names
or phone numbers are in it. tickets/report_render.py makes report.md and a bar chart per
plan area (`render_chart`: PNG, CJK font); `python -m tickets.report --days 30 --out DIR`
writes report.json, report.md and chart.png.

Which entry gave an answer: the logged `entry` when there is one; otherwise, for an ID whose
entries differ (some say "no record", some do not), the entry of that ID whose questions
cover the logged question best (knowledge/lexical.py), the way the follow-up answer picks one.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from common.config import settings_or_exit
from common.logs import mask
from common.texts import say
from knowledge.base import Entry, KnowledgeBase, area_of, load
from tickets.questions import DECISIONS, anonymise
from tickets.schema import to_local, utcnow
from tickets.store import TicketStore

TOP_IDS = 10
SHOWN_PER_GAP = 20
# What an answer says when the county's own figure, office or procedure is not known here.
NO_RECORD_MARKS = ("没有可靠的记录", "没有可靠的资料")
# The gaps, in the order the report lists them, and the decision each comes from.
GAPS = ("no_record", "none_fits", "unknown", "out_of_scope", "urgent")
GAP_OF_DECISION = {"none_fits": "none_fits", "unknown": "unknown", "out_of_scope": "out_of_scope", "urgent": "urgent"}


class ReportError(Exception):
    """The report cannot be made (e.g. no Chinese font for the chart)."""


@dataclass
class Gap:
    """Questions residents did not fully get, of one kind: counted, per measure, and listed."""

    count: int = 0
    by_id: dict[str, int] = field(default_factory=dict)
    questions: dict[str, int] = field(default_factory=dict)  # anonymised text → times asked

    def add(self, text: str, kid: str | None) -> None:
        self.count += 1
        if kid:
            self.by_id[kid] = self.by_id.get(kid, 0) + 1
        if text:
            self.questions[text] = self.questions.get(text, 0) + 1


@dataclass
class Report:
    """Counts for one period (times are UTC, naive, as stored)."""

    start: datetime
    end: datetime
    total: int = 0
    by_id: dict[str, int] = field(default_factory=dict)
    by_area: dict[str, int] = field(default_factory=dict)
    decisions: dict[str, int] = field(default_factory=dict)
    unanswered: list[str] = field(default_factory=list)
    gaps: dict[str, Gap] = field(default_factory=dict)
    id_names: dict[str, str] = field(default_factory=dict)
    area_names: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["by_id"] = {k: {"name": self.id_names.get(k, k), "count": n} for k, n in self.by_id.items()}
        data["by_area"] = {k: {"name": self.area_names.get(k, k), "count": n} for k, n in self.by_area.items()}
        data["gaps"] = {
            kind: {
                "count": gap.count,
                "by_id": {k: {"name": self.id_names.get(k, k), "count": n} for k, n in gap.by_id.items()},
                "questions": [{"text": t, "count": n} for t, n in gap.questions.items()],
            }
            for kind, gap in self.gaps.items()
        }
        del data["id_names"], data["area_names"]
        return data


def local_date(moment: datetime) -> str:
    """A stored UTC time as a local (China) date: 2026年11月29日."""
    day = to_local(moment)
    return f"{day.year}年{day.month}月{day.day}日"


def says_no_record(entry: Entry) -> bool:
    """Whether the entry's answer or next step says the county's own facts are not known here."""
    return any(mark in entry.answer or mark in entry.next_step for mark in NO_RECORD_MARKS)


class EntryGuess:
    """Which entry of a knowledge ID answered a logged question (see the module docstring)."""

    def __init__(self, kb: KnowledgeBase) -> None:
        self.kb = kb
        self.of_id: dict[str, list[Entry]] = {}
        for entry in kb.entries:
            self.of_id.setdefault(entry.id, []).append(entry)
        self._indexes: dict[str, Any] = {}

    def no_record(self, kid: str, entry_key: str, text: str) -> bool:
        entry = self.kb.by_key.get(entry_key)
        if entry is not None:
            return says_no_record(entry)
        family = self.of_id.get(kid, [])
        kinds = {says_no_record(e) for e in family}
        if len(kinds) != 1:  # the ID's entries differ: the one whose questions match best
            from knowledge.lexical import LexicalIndex

            index = self._indexes.get(kid)
            if index is None:
                index = self._indexes[kid] = LexicalIndex([[e.title, *e.examples] for e in family])
            scores = index.scores(text)
            return says_no_record(family[max(range(len(family)), key=lambda i: (scores[i], -i))])
        return kinds == {True}


def _sorted_counts(counts: dict[str, int], order: list[str]) -> dict[str, int]:
    return dict(sorted(counts.items(), key=lambda kv: (-kv[1], order.index(kv[0]) if kv[0] in order else len(order))))


def build_report(store: TicketStore, start: datetime, end: datetime) -> Report:
    """Count the questions logged in [start, end)."""
    kb = load()
    report = Report(start=start, end=end, id_names=dict(kb.ids), area_names=dict(kb.areas))
    report.by_area = {area: 0 for area in kb.areas}
    report.decisions = {d: 0 for d in DECISIONS}
    report.gaps = {kind: Gap() for kind in GAPS}
    guess = EntryGuess(kb)
    by_id: dict[str, int] = {}
    for row in store.questions.between(start, end):
        report.total += 1
        decision = row["decision"]
        report.decisions[decision] = report.decisions.get(decision, 0) + 1
        ids = [s for s in (row["sources"] or "").split(",") if s in kb.ids]
        best = ids[0] if ids else None
        if best and decision != "none_fits":  # a menu nobody chose counts for no measure
            by_id[best] = by_id.get(best, 0) + 1
            report.by_area[area_of(best)] = report.by_area.get(area_of(best), 0) + 1
        text = mask(anonymise(" ".join(str(row["text"]).split())))
        gap = GAP_OF_DECISION.get(decision)
        if gap is None and decision in ("answer", "followup") and best:
            gap = "no_record" if guess.no_record(best, row.get("entry") or "", text) else None
        if gap is not None:
            report.gaps[gap].add(text, best)
    order = list(kb.ids)
    report.by_id = _sorted_counts(by_id, order)
    for gap in report.gaps.values():
        gap.by_id = _sorted_counts(gap.by_id, order)
        gap.questions = dict(sorted(gap.questions.items(), key=lambda kv: -kv[1]))
    report.unanswered = list(report.gaps["unknown"].questions)
    return report


def _count_lines(counts: dict[str, int], names: dict[str, str], limit: int | None = None) -> list[str]:
    shown = [(k, n) for k, n in counts.items() if n][:limit]
    return [say("utter_staff_report_line", label=names.get(k, k), id=k, count=n) for k, n in shown]


def summary(report: Report) -> str:
    """The staff-group caption of the chart."""
    return say("utter_staff_report", start=local_date(report.start), end=local_date(report.end), total=report.total)


def _question_lines(gap: Gap, limit: int | None) -> list[str]:
    shown = list(gap.questions.items())[:limit]
    lines = []
    for text, count in shown:
        times = say("utter_staff_report_times", count=count) if count > 1 else ""
        lines.append(say("utter_staff_report_question", text=text, times=times))
    if limit is not None and len(gap.questions) > limit:
        lines.append(say("utter_staff_report_more", count=len(gap.questions) - limit))
    return lines


def sections(report: Report, per_gap: int | None) -> list[tuple[str, list[str]]]:
    """The report's parts, each a heading and its lines (`per_gap`: questions listed per gap, None: all)."""
    d, gaps = report.decisions, report.gaps
    sections = [
        (
            say(
                "utter_staff_report_decisions",
                answered=d.get("answer", 0) + d.get("followup", 0),
                no_record=gaps["no_record"].count,
                clarify=d.get("clarify", 0),
                none_fits=d.get("none_fits", 0),
                unknown=d.get("unknown", 0),
                out_of_scope=d.get("out_of_scope", 0),
                urgent=d.get("urgent", 0),
            ),
            [],
        ),
        (say("utter_staff_report_by_area", lines=""), _count_lines(report.by_area, report.area_names)),
        (say("utter_staff_report_by_id", lines=""), _count_lines(report.by_id, report.id_names, TOP_IDS)),
    ]
    if not any(gap.count for gap in gaps.values()):
        sections.append((say("utter_staff_report_none_unanswered"), []))
        return sections
    for kind in GAPS:
        gap = gaps[kind]
        if not gap.count:
            continue
        lines = _count_lines(gap.by_id, report.id_names) + _question_lines(gap, per_gap)
        sections.append((say(f"utter_staff_report_gap_{kind}", count=gap.count, lines=""), lines))
    return sections


def report_text(report: Report) -> str:
    """Plain text for the staff group (no Markdown: a screen reader reads it as it is)."""
    parts = []
    for head, lines in sections(report, SHOWN_PER_GAP):
        parts.append("\n".join([head.strip(), *lines]))
    return "\n\n".join(parts)


def write_report(store: TicketStore, days: int, out: Path) -> Report:
    """report.json, report.md and chart.png for the last `days` days into `out`."""
    from tickets.report_render import render_chart, render_markdown  # it imports this module

    end = utcnow()
    report = build_report(store, end - timedelta(days=days), end)
    out.mkdir(parents=True, exist_ok=True)
    (out / "report.json").write_text(json.dumps(report.to_json(), ensure_ascii=False, indent=2), encoding="utf-8")
    (out / "report.md").write_text(render_markdown(report), encoding="utf-8")
    render_chart(report, out / "chart.png")
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tickets.report", description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30, help="the period: the last N days (default 30)")
    parser.add_argument("--out", type=Path, default=Path("results/report"), help="output folder")
    args = parser.parse_args(argv)
    if args.days < 1:
        parser.error("--days must be at least 1")
    from tickets.store import default_store

    settings_or_exit()
    try:
        report = write_report(default_store(), args.days, args.out)
    except ReportError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(summary(report))
    for name in ("report.json", "report.md", "chart.png"):
        print(args.out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
