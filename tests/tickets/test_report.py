"""The staff report over seeded question rows: counts per ID and area, no phone numbers, a real PNG."""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
import zlib
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from knowledge.base import load
from tickets.report import ReportError, build_report, render_chart, render_markdown, report_text
from tickets.schema import questions, utcnow
from tickets.store import TicketStore

ROOT = Path(__file__).resolve().parents[2]
PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)|0797-?\d{7,8}")

SEEDED = [
    ("answer", ["m1.5"], "护理补贴怎么申请"),
    ("answer", ["m1.5"], "生活补贴多少钱"),
    ("followup", ["m1.5"], "那要带什么材料"),
    ("clarify", ["m1.3", "m1.5"], "托养的事"),  # counted once, for its best ID
    ("answer", ["m2.2"], "单位要按比例招残疾人吗"),
    ("answer", ["m4.5"], "轮椅坏了能换吗"),
    ("unknown", [], "我电话13812345678，村里的路什么时候修"),
    ("unknown", [], "座机0797-2812345能打吗"),
    ("unknown", [], "我电话13812345678，村里的路什么时候修"),  # asked twice, listed once
    ("out_of_scope", [], "明天天气怎么样"),
]


@pytest.fixture
def seeded(store: TicketStore) -> TicketStore:
    """The tickets conftest's store with the questions above (and one from long ago)."""
    for decision, sources, text in SEEDED:
        store.questions.log("ask_policy", decision, sources, text)
    store.questions.log("ask_policy", "answer", ["m3.1"], "去年问的特殊教育")
    with store.engine.begin() as conn:  # one question from long ago: outside the period
        conn.execute(
            update(questions).where(questions.c.text == "去年问的特殊教育").values(at=utcnow() - timedelta(days=400))
        )
    return store


def period() -> tuple:
    end = utcnow() + timedelta(seconds=1)
    return end - timedelta(days=30), end


def test_counts_per_id_area_and_decision(seeded: TicketStore) -> None:
    report = build_report(seeded, *period())
    assert report.total == len(SEEDED)
    assert report.by_id == {"m1.5": 3, "m1.3": 1, "m2.2": 1, "m4.5": 1}
    assert list(report.by_id)[0] == "m1.5"  # most asked first
    assert report.by_area == {area: {"m1": 4, "m2": 1, "m4": 1}.get(area, 0) for area in load().areas}
    assert report.decisions == {"answer": 4, "followup": 1, "clarify": 1, "unknown": 3, "out_of_scope": 1}
    assert report.unanswered == ["我电话138****5678，村里的路什么时候修", "座机0797-****2345能打吗"]
    assert report.id_names["m1.5"] == load().ids["m1.5"] and report.area_names["m1"] == "社会保障"


def test_no_phone_numbers_anywhere(seeded: TicketStore) -> None:
    report = build_report(seeded, *period())
    for rendered in (report_text(report), render_markdown(report), json.dumps(report.to_json(), ensure_ascii=False)):
        assert not PHONE.search(rendered), rendered
        assert "社会保障（m1）：4个" in rendered or '"m1": {"name": "社会保障", "count": 4}' in rendered
    text = report_text(report)
    assert "村里的路什么时候修" in text and "明天天气" not in text


def test_chart_is_a_real_png(seeded: TicketStore, tmp_path: Path) -> None:
    path = render_chart(build_report(seeded, *period()), tmp_path / "out" / "chart.png")
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 10_000
    length, kind = struct.unpack(">I4s", data[8:16])
    assert (
        kind == b"IHDR"
        and zlib.crc32(data[12 : 16 + length]) == struct.unpack(">I", data[16 + length : 20 + length])[0]
    )
    width, height = struct.unpack(">II", data[16:24])
    assert width >= 800 and height >= 400
    assert data.endswith(b"IEND\xaeB`\x82")
    assert not list(path.parent.glob(".*"))  # written atomically, no temporary left


def test_missing_font_is_a_clear_error(seeded: TicketStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib import font_manager

    monkeypatch.setattr(font_manager, "findSystemFonts", lambda *a, **k: ["/usr/share/fonts/x/DejaVuSans.ttf"])
    with pytest.raises(ReportError, match="fonts-wqy-microhei"):
        render_chart(build_report(seeded, *period()), tmp_path / "chart.png")


def test_command_line_writes_json_markdown_and_chart(seeded: TicketStore, tmp_path: Path) -> None:
    out = tmp_path / "report"
    env = {
        **os.environ,
        "DATABASE_URL": str(seeded.engine.url),
        "XUNWU_DATA_DIR": str(tmp_path),
    }
    proc = subprocess.run(
        [sys.executable, "-m", "tickets.report", "--days", "30", "--out", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert "居民一共问了10个问题" in proc.stdout
    data = json.loads((out / "report.json").read_text(encoding="utf-8"))
    assert data["total"] == 10 and data["by_id"]["m1.5"] == {"name": load().ids["m1.5"], "count": 3}
    assert data["by_area"]["m1"]["count"] == 4 and len(data["unanswered"]) == 2
    markdown = (out / "report.md").read_text(encoding="utf-8")
    assert markdown.startswith("# ") and "## 没能回答的问题（2个）" in markdown
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("report.json", "report.md"):
        assert not PHONE.search((out / name).read_text(encoding="utf-8"))
