"""The staff report as files: report.md (`render_markdown`, the same content as the staff
group's text with headings and lists) and chart.png (`render_chart`: a bar chart per plan
area, drawn with a font that has Chinese, CJK_FONT_FILES)."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from common.texts import say
from tickets.report import Report, ReportError, local_date, sections, summary

# Font files (as matplotlib finds them) that can draw Chinese, best first.
CJK_FONT_FILES = ("wqy-microhei", "wqy-zenhei", "notosanscjk", "notoserifcjk", "droidsansfallback")


def _title(report: Report) -> str:
    return say("utter_staff_report_chart_title", start=local_date(report.start), end=local_date(report.end))


def render_markdown(report: Report) -> str:
    """report.md: the same content with headings and lists."""
    out = [f"# {_title(report)}", "", summary(report), ""]
    for head, lines in sections(report, None):
        if lines:
            out += [f"## {head.strip().rstrip('：')}", "", *[f"- {line.removeprefix('· ')}" for line in lines], ""]
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
        ax.set_title(_title(report), fontproperties=font)
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
