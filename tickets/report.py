"""The staff report: what residents asked in a period, per plan measure and area.

`build_report(store, start, end)` counts the logged questions (the `questions` table that
actions/answer.py fills with anonymised texts): per knowledge ID and per plan area (names
from knowledge/ids.yml and knowledge/areas.yml), per decision, and lists the questions the
assistant could not answer (phones masked once more). Each question counts once, for its
best-matching ID. No names or phone numbers are in it. `render_chart(report, path)` draws
a bar chart per plan area (PNG, CJK font); `python -m tickets.report --days 30 --out DIR`
writes report.json, report.md and chart.png.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from common.config import settings_or_exit
from common.logs import mask
from common.texts import say
from knowledge.base import area_of, load
from tickets.schema import to_local, utcnow
from tickets.store import TicketStore

DECISIONS = ("answer", "followup", "clarify", "unknown", "out_of_scope")
# Font files (as matplotlib finds them) that can draw Chinese, best first.
CJK_FONT_FILES = ("wqy-microhei", "wqy-zenhei", "notosanscjk", "notoserifcjk", "droidsansfallback")
TOP_IDS = 10
SHOWN_UNANSWERED = 20


class ReportError(Exception):
    """The report cannot be made (e.g. no Chinese font for the chart)."""


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
    id_names: dict[str, str] = field(default_factory=dict)
    area_names: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["start"], data["end"] = self.start.isoformat(), self.end.isoformat()
        data["by_id"] = {k: {"name": self.id_names.get(k, k), "count": n} for k, n in self.by_id.items()}
        data["by_area"] = {k: {"name": self.area_names.get(k, k), "count": n} for k, n in self.by_area.items()}
        del data["id_names"], data["area_names"]
        return data


def local_date(moment: datetime) -> str:
    """A stored UTC time as a local (China) date: 2026年11月29日."""
    day = to_local(moment)
    return f"{day.year}年{day.month}月{day.day}日"


def build_report(store: TicketStore, start: datetime, end: datetime) -> Report:
    """Count the questions logged in [start, end)."""
    kb = load()
    report = Report(start=start, end=end, id_names=dict(kb.ids), area_names=dict(kb.areas))
    report.by_area = {area: 0 for area in kb.areas}
    report.decisions = {d: 0 for d in DECISIONS}
    by_id: dict[str, int] = {}
    seen_unanswered: set[str] = set()
    for row in store.questions.between(start, end):
        report.total += 1
        decision = row["decision"]
        report.decisions[decision] = report.decisions.get(decision, 0) + 1
        ids = [s for s in (row["sources"] or "").split(",") if s in kb.ids]
        if ids:
            by_id[ids[0]] = by_id.get(ids[0], 0) + 1
            area = area_of(ids[0])
            report.by_area[area] = report.by_area.get(area, 0) + 1
        if decision == "unknown":
            text = mask(" ".join(str(row["text"]).split()))
            if text and text not in seen_unanswered:
                seen_unanswered.add(text)
                report.unanswered.append(text)
    report.by_id = dict(sorted(by_id.items(), key=lambda kv: (-kv[1], list(kb.ids).index(kv[0]))))
    return report


def _count_lines(counts: dict[str, int], names: dict[str, str], limit: int | None = None) -> list[str]:
    shown = [(k, n) for k, n in counts.items() if n][:limit]
    return [say("utter_staff_report_line", label=names.get(k, k), id=k, count=n) for k, n in shown]


def summary(report: Report) -> str:
    """The staff-group caption of the chart."""
    return say("utter_staff_report", start=local_date(report.start), end=local_date(report.end), total=report.total)


def _sections(report: Report, unanswered_limit: int | None) -> list[tuple[str, list[str]]]:
    d = report.decisions
    sections = [
        (
            say(
                "utter_staff_report_decisions",
                answered=d.get("answer", 0) + d.get("followup", 0),
                clarify=d.get("clarify", 0),
                unknown=d.get("unknown", 0),
                out_of_scope=d.get("out_of_scope", 0),
            ),
            [],
        ),
        (say("utter_staff_report_by_area", lines=""), _count_lines(report.by_area, report.area_names)),
        (say("utter_staff_report_by_id", lines=""), _count_lines(report.by_id, report.id_names, TOP_IDS)),
    ]
    if report.unanswered:
        shown = report.unanswered[:unanswered_limit]
        sections.append((say("utter_staff_report_unanswered", count=len(report.unanswered), lines=""), shown))
    else:
        sections.append((say("utter_staff_report_none_unanswered"), []))
    return sections


def report_text(report: Report) -> str:
    """Plain text for the staff group (no Markdown: a screen reader reads it as it is)."""
    parts = []
    for head, lines in _sections(report, SHOWN_UNANSWERED):
        parts.append("\n".join([head.strip(), *lines]))
    return "\n\n".join(parts)


def render_markdown(report: Report) -> str:
    """report.md: the same content with headings and lists."""
    title = say("utter_staff_report_chart_title", start=local_date(report.start), end=local_date(report.end))
    out = [f"# {title}", "", summary(report), ""]
    for head, lines in _sections(report, None):
        if lines:
            out += [f"## {head.strip().rstrip('：')}", "", *[f"- {line}" for line in lines], ""]
        else:
            out += [head.strip(), ""]
    return "\n".join(out)


def cjk_font() -> Path:
    """A font file that draws Chinese, found by matplotlib.font_manager (no font cache needed)."""
    from matplotlib import font_manager

    found = {Path(p).name.lower().replace("-", "").replace("_", ""): Path(p) for p in font_manager.findSystemFonts()}
    for wanted in CJK_FONT_FILES:
        key = wanted.replace("-", "")
        for name, path in sorted(found.items()):
            if name.startswith(key):
                return path
    raise ReportError("no Chinese font for the chart: install the Debian package fonts-wqy-microhei (scripts/setup.sh)")


def render_chart(report: Report, path: Path) -> Path:
    """A PNG bar chart of the questions per plan area, written atomically to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt
    from matplotlib.font_manager import FontProperties

    font = FontProperties(fname=str(cjk_font()))
    areas = list(report.by_area)
    labels = [f"{report.area_names.get(a, a)}（{a}）" for a in areas]
    counts = [report.by_area[a] for a in areas]
    fig, ax = plt.subplots(figsize=(8, 0.45 * len(areas) + 1.6), dpi=120)
    try:
        bars = ax.barh(range(len(areas)), counts, color="#3b6ea5")
        ax.set_yticks(range(len(areas)))
        ax.set_yticklabels(labels, fontproperties=font)
        ax.invert_yaxis()
        ax.set_xlabel(say("utter_staff_report_axis"), fontproperties=font)
        title = say("utter_staff_report_chart_title", start=local_date(report.start), end=local_date(report.end))
        ax.set_title(title, fontproperties=font)
        ax.bar_label(bars, padding=3)
        ax.set_xlim(0, max([*counts, 1]) * 1.15)
        ax.xaxis.get_major_locator().set_params(integer=True)
        fig.tight_layout()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{uuid.uuid4().hex[:8]}.png")
        fig.savefig(tmp, format="png")
        os.replace(tmp, path)
    finally:
        plt.close(fig)
    return path


def write_report(store: TicketStore, days: int, out: Path) -> Report:
    """report.json, report.md and chart.png for the last `days` days into `out`."""
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
