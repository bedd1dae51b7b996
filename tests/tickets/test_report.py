"""The staff report over seeded question rows: counts per ID and area, the gaps (a day of
mixed questions, every count checked), no phone numbers, a real PNG."""

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
from tickets.report import ReportError, build_report, report_text
from tickets.report_render import render_chart, render_markdown
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
    assert report.decisions == {
        "answer": 4,
        "followup": 1,
        "clarify": 1,
        "none_fits": 0,
        "unknown": 3,
        "out_of_scope": 1,
        "urgent": 0,
    }
    assert report.unanswered == ["我电话〔号码〕，村里的路什么时候修", "座机〔号码〕能打吗"]
    assert report.id_names["m1.5"] == load().ids["m1.5"] and report.area_names["m1"] == "社会保障"


def test_no_phone_numbers_anywhere(seeded: TicketStore) -> None:
    report = build_report(seeded, *period())
    for rendered in (report_text(report), render_markdown(report), json.dumps(report.to_json(), ensure_ascii=False)):
        assert not PHONE.search(rendered), rendered
        assert "社会保障（m1）：4个" in rendered or '"m1": {"name": "社会保障", "count": 4}' in rendered
    text = report_text(report)
    assert "村里的路什么时候修（2次）" in text and "明天天气怎么样" in text


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
    assert markdown.startswith("# ") and "## 没能回答的问题（3个）" in markdown
    assert "- 我电话〔号码〕，村里的路什么时候修（2次）" in markdown
    assert (out / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("report.json", "report.md"):
        assert not PHONE.search((out / name).read_text(encoding="utf-8"))


# A day of mixed questions: (decision, sources, text, entry) as the answer action logs them.
DAY = [
    ("answer", ["m1.5"], "护理补贴是什么", "nursing-subsidy"),  # a full answer
    ("answer", ["m1.5"], "两项补贴多少钱", "subsidies-amount"),  # "我这里没有可靠的记录"
    ("answer", ["m1.5"], "两项补贴多少钱", ""),  # no entry logged: found from the ID's questions
    ("followup", ["m1.5"], "办残疾证要带什么", "card-materials"),  # no record
    ("answer", ["m2.4"], "我想开个小店 有没有补贴", ""),  # every m2.4 entry says no record
    ("answer", ["m6.2"], "残疾人能申请法律援助吗", ""),  # no m6.2 entry says it
    ("clarify", ["m4.5", "m4.3"], "轮椅的事", ""),
    ("none_fits", ["m4.5", "m4.3"], "轮椅的事", ""),  # 都不是
    ("clarify", ["m1.3", "m1.6"], "我叫王秀英 想问问房子的事", ""),
    ("none_fits", ["m1.3", "m1.6"], "我叫王秀英 想问问房子的事", ""),
    ("unknown", [], "村里的路什么时候修", ""),
    ("unknown", [], "村里的路什么时候修", ""),
    ("unknown", [], "电话一三八一二三四五六七八 帮我问下村主任", ""),
    ("out_of_scope", [], "高龄津贴怎么领", ""),
    ("out_of_scope", [], "医保怎么报销", ""),
    ("urgent", [], "我爸摔倒了 头在流血", ""),
]


def test_a_day_of_mixed_questions_every_count(store: TicketStore) -> None:
    for decision, sources, text, entry in DAY:
        store.questions.log("ask_policy", decision, sources, text, entry=entry)
    report = build_report(store, *period())
    assert report.total == 16
    assert report.decisions == {
        "answer": 5,
        "followup": 1,
        "clarify": 2,
        "none_fits": 2,
        "unknown": 3,
        "out_of_scope": 2,
        "urgent": 1,
    }
    # per measure: the menus nobody chose count for no measure
    assert report.by_id == {"m1.5": 4, "m4.5": 1, "m1.3": 1, "m2.4": 1, "m6.2": 1}
    gaps = report.gaps
    assert {k: g.count for k, g in gaps.items()} == {
        "no_record": 4,
        "none_fits": 2,
        "unknown": 3,
        "out_of_scope": 2,
        "urgent": 1,
    }
    assert gaps["no_record"].by_id == {"m1.5": 3, "m2.4": 1}
    assert gaps["no_record"].questions == {"两项补贴多少钱": 2, "办残疾证要带什么": 1, "我想开个小店 有没有补贴": 1}
    assert gaps["none_fits"].by_id == {"m4.5": 1, "m1.3": 1}
    assert gaps["none_fits"].questions == {"轮椅的事": 1, "我叫〔姓名〕 想问问房子的事": 1}  # anonymised
    assert gaps["unknown"].questions == {"村里的路什么时候修": 2, "电话〔号码〕 帮我问下村主任": 1}
    assert gaps["out_of_scope"].questions == {"高龄津贴怎么领": 1, "医保怎么报销": 1}
    assert gaps["urgent"].questions == {"我爸摔倒了 头在流血": 1}

    text = report_text(report)
    assert "回答了6个（其中4个只能说“我这里没有可靠的记录”），请居民选择的2个（2个选了“都不是”）" in text
    assert "没能回答的3个，不在范围的2个，有危险的1个" in text
    for line in (
        "回答里说“我这里没有可靠的记录”的问题（4个）：",
        f"{load().ids['m1.5']}（m1.5）：3个",
        "· 两项补贴多少钱（2次）",
        "列了选项、居民说“都不是”的问题（2个）：",
        "没能回答的问题（3个）：",
        "· 村里的路什么时候修（2次）",
        "当成不在范围的问题（2个）：",
        "· 高龄津贴怎么领",
        "有人可能有危险的消息（1个）：",
    ):
        assert line in text, line
    assert "王秀英" not in text and "13812345678" not in text and "一三八" not in text
    data = report.to_json()
    assert data["gaps"]["no_record"]["by_id"]["m2.4"] == {"name": load().ids["m2.4"], "count": 1}
    assert data["gaps"]["unknown"]["questions"][0] == {"text": "村里的路什么时候修", "count": 2}


def test_a_day_without_gaps_says_so(store: TicketStore) -> None:
    store.questions.log("ask_policy", "answer", ["m1.5"], "护理补贴是什么", entry="nursing-subsidy")
    text = report_text(build_report(store, *period()))
    assert "没有回答不了的问题。" in text and "没能回答的问题" not in text
