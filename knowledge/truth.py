"""Mechanical truth checks on what the answers say.

- Figures: every number, numeral with a unit, phone and 文号 an answer says is in the
  excerpts of the entry's own sources; the same for its `spoken` text (what a blind
  resident hears instead of answer and next step) and every line of `emergency.yml`.
- Labels and sources: every 来源 label names a real section of its source; fact-sheet
  excerpts are verbatim and never 【第三方】 (`knowledge.base.source_problems`).
- Periods: a text that names a plan or programme says, where it first names it, which
  years it covers ("2021到2025年"); a target year that has passed ("到2025年") is said
  with its period or as a past target, never as if still ahead.
- Each other plan a text names (国家, 江西省, 赣州, 寻乌县) says its years where first named,
  and "十四五"/"十五五" is said with its years.
- A text that says the plan "does not say" something says it is the summary (解读) that
  does not: the plan itself is not on record.
- Spoken texts are checked like answers (figures, periods), and one whose entry's next
  step offers a person (转人工) offers one too.
- Next steps (a measure, not a rule): which entries' next step names a place, a
  document, a channel or a time that their own sources give.

`python -m knowledge.truth` prints every problem (exit 1 when there is one) and the
measures; `make test` runs the same checks through tests/knowledge.
"""

from __future__ import annotations

import datetime as dt
import re
import statistics
import sys
from pathlib import Path

from knowledge.base import (
    ROOT_SHARED,
    SENTENCE_RE,
    EmergencyLine,
    Entry,
    KnowledgeBase,
    Source,
    load,
    load_emergency,
)
from knowledge.base import source_problems as _source_problems

# Arabic numbers (80, 1.5, 2021), Chinese numerals with a measure word (十年, 一级, 两万户),
# phone-like digit runs, and document numbers (国发〔2015〕52号).
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
CN_NUMBER_RE = re.compile(r"[零一二两三四五六七八九十百千万]+(?:个月|级|岁|年|元|项|条|章|户|人|名|周|天|倍)")
DOC_RE = re.compile(r"[\u4e00-\u9fff]{0,4}〔\d{4}〕\d+号")
PHONE_RE = re.compile(r"(?:\d[\d\- ]{6,}\d)")
URL_RE = re.compile(r"https?://\S+|www\.\S+", re.I)

# A plan or time-bound programme named in a text, and the years it covers said in words.
PLAN_WORD_RE = re.compile(r"规划|行动方案|实施方案|行动计划")
NOT_A_PLAN_RE = re.compile(r"纳入[^。；，,]{0,14}规划")  # "纳入发展规划": a law's duty, not a plan
PERIOD_RE = re.compile(r"(20\d\d)\s*(?:—|–|-|~|到|至)\s*(20\d\d)年")
TARGET_RE = re.compile(r"到(20\d\d)年")
PAST_MARKERS = ("当时", "原定", "定过", "已经", "已", "定的目标", "提出过")
# A five-year period named by its number ("十四五", "十五五") is said with its years in words.
FIVE_YEAR_RE = re.compile(r"十[一二三四五六七八九]五")
# Whose plan a sentence names: each of these, named with a plan, says its years once in the
# text ("国家…规划" after "寻乌县2021到2025年的规划" is another plan and needs its own years).
PLAN_LEVELS = ("寻乌县", "江西省", "赣州", "国家")
# A successor plan not on record ("寻乌县的新规划") has no years to say.
SUCCESSOR_RE = re.compile(r"新的?规划")
# What the project has of the county plan is its summary (解读): a text that says the plan
# "does not say" something must say it is the summary that does not ("县里的解读没有写").
NOT_WRITTEN_RE = re.compile(r"没有?写")
SUMMARY_WORD = "解读"

# What makes a next step concrete: a place, a document, a channel or a time. Each term
# counts only when one of its spellings is also in the entry's own sources.
# A place counts only at the level its source gives: spellings of one group name the same
# level of government. 县残联 (the county's DPF, the one a Xunwu resident goes to) and 市残联
# (a city's) are two groups, so 南昌市残联 in a source does not back "去县残联" in a next
# step (区残联 is a district, the county's level in a city).
ACTION_TERMS: dict[str, tuple[tuple[str, ...], ...]] = {
    "place": (
        ("乡镇（街道）", "乡镇人民政府", "街道办事处", "乡镇", "乡（镇）", "镇（办）"),
        ("受理窗口",),
        ("县级残联", "县残联", "区残联", "县残疾人联合会"),
        ("市残联",),
        ("村（居）委会", "村（居）民委员会", "村委会", "村民委员会", "村（社区）"),
        ("民政部门", "民政局", "民政办"),
        ("法律援助机构", "法律援助中心", "法律援助服务机构"),
        ("教育局", "教体局", "教育部门", "教育行政部门"),
        ("指定的医院", "医院"),
        ("政务服务大厅",),
        ("就业创业服务中心", "公共就业和人才服务机构", "公共就业服务机构"),
    ),
    "document": (
        ("残疾人证", "残疾证"),
        ("身份证",),
        ("户口本", "户口簿"),
        ("居住证",),
        ("照片", "彩照"),
        ("申请表", "评定表"),
        ("病历",),
        ("证明材料",),
        ("书面申请",),
    ),
    "channel": (
        ("民政通",),
        ("国家政务服务平台",),
        ("12348",),
        ("12356",),
        ("110",),
        ("120",),
        ("119",),
        ("www.gzhdpf.org.cn",),
    ),
}
# Times a next step can give: in days, in working days, this month, a month ahead, a deadline year.
TIME_RE = re.compile(r"\d+个工作日|\d+天|当月|提前一个月|十周年|\d{4}年底前")
STAFF_OFFER = "转人工"


def _plain(text: str) -> str:
    return "".join(text.replace("**", "").split())


def claims(text: str) -> list[str]:
    """The checkable figures in `text`: numbers, numerals with units, 文号, phones."""
    text = URL_RE.sub(" ", text)
    found = DOC_RE.findall(text) + PHONE_RE.findall(text)
    found += NUMBER_RE.findall(text) + CN_NUMBER_RE.findall(text)
    return found


def _numbers(text: str) -> set[str]:
    return set(NUMBER_RE.findall(text))


def evidence(sources: tuple[Source, ...]) -> str:
    """The excerpts of `sources`, as one run of text without whitespace ("｜" between
    excerpts, so that the last figure of one never runs into the first of the next)."""
    return "｜".join(_plain(x) for s in sources for x in s.excerpts)


def figure_problems(texts: tuple[str, ...], sources: tuple[Source, ...], where: str) -> list[str]:
    """Figures in `texts` that none of the excerpts of `sources` contain."""
    ev = evidence(sources)
    ev_numbers = _numbers(ev)
    problems = []
    for text in texts:
        for claim in claims(text):
            plain = _plain(claim)
            if NUMBER_RE.fullmatch(plain):
                ok = plain in ev_numbers
            elif "〔" in plain:  # a 文号: its issuer (two characters at least) and number
                core = plain[plain.index("〔") - 2 :] if plain.index("〔") >= 2 else plain
                ok = core in ev
            else:
                ok = plain in ev
            if not ok:
                problems.append(f"{where}: {claim!r} is not in its sources")
    return problems


def entry_problems(entry: Entry) -> list[str]:
    """Figures in the entry's texts (written and spoken) that none of its sources' excerpts contain."""
    where = f"{entry.file}: {entry.key}"
    written = tuple(t for t in (entry.answer, entry.detail, entry.next_step) if t)
    problems = figure_problems(written, entry.sources, where)
    if entry.spoken:
        problems += figure_problems((entry.spoken,), entry.sources, f"{where}: spoken")
    return problems


def _plan_mentions(sentence: str) -> bool:
    cleaned = NOT_A_PLAN_RE.sub("", sentence)
    return bool(PLAN_WORD_RE.search(cleaned))


def period_problems(entry: Entry, year: int | None = None) -> list[str]:
    """A plan stated without its period, or a passed target year stated as still ahead.

    In each text, the first sentence that names a plan or programme must say the years it
    covers. A sentence with "到YYYY年" for a year already reached must say the period or
    mark the target as past.
    """
    this_year = year or dt.date.today().year
    where = f"{entry.file}: {entry.key}"
    problems = []
    for text in entry.texts:
        sentences = SENTENCE_RE.findall(text)
        first = next((s for s in sentences if _plan_mentions(s)), None)
        if first is not None and not PERIOD_RE.search(first):
            problems.append(f"{where}: names a plan without its years: {first.strip()!r}")
        dated = {lv for lv in PLAN_LEVELS if first is not None and lv in first}
        for sentence in sentences:
            if sentence is first or not _plan_mentions(sentence) or SUCCESSOR_RE.search(sentence):
                continue
            for level in (lv for lv in PLAN_LEVELS if lv in sentence):
                if PERIOD_RE.search(sentence):
                    dated.add(level)
                elif level not in dated:
                    problems.append(f"{where}: names another plan ({level}) without its years: {sentence.strip()!r}")
        for sentence in sentences:
            if FIVE_YEAR_RE.search(sentence) and not PERIOD_RE.search(sentence):
                problems.append(f"{where}: names a five-year period without its years: {sentence.strip()!r}")
        for sentence in sentences:
            for target in TARGET_RE.findall(sentence):
                if int(target) <= this_year and not (
                    PERIOD_RE.search(sentence) or any(m in sentence for m in PAST_MARKERS)
                ):
                    problems.append(f"{where}: states the passed target 到{target}年 as if ahead: {sentence.strip()!r}")
    return problems


def summary_problems(entry: Entry) -> list[str]:
    """A sentence that says the county plan "does not say" something names the summary.

    The project has the plan's official summary (解读), not the plan: "规划…没有写具体做法"
    claims what the plan itself says; "县里的解读没有写" is what the sources support.
    """
    where = f"{entry.file}: {entry.key}"
    return [
        f"{where}: says the plan does not say something, but only its summary (解读) was read: {s.strip()!r}"
        for text in entry.texts
        for s in SENTENCE_RE.findall(text)
        if "规划" in s and NOT_WRITTEN_RE.search(s) and SUMMARY_WORD not in s
    ]


def source_problems(source: Source, fact_sheet: Path | None = None) -> list[str]:
    """A source's label names a real section; its excerpts are where they say they are."""
    return _source_problems(source, fact_sheet)


def emergency_problems(lines: tuple[EmergencyLine, ...]) -> list[str]:
    """Every number an urgent line says is in its source's excerpts."""
    return [p for line in lines for p in figure_problems((line.text,), (line.source,), f"emergency.yml: {line.key}")]


def _term_text(text: str) -> str:
    """Text for matching action terms: no whitespace, ASCII brackets as full-width ones."""
    return _plain(text).replace("(", "（").replace(")", "）")


def next_step_terms(entry: Entry) -> list[str]:
    """The places, documents, channels and times the next step names that the entry's
    own sources also give (canonical spellings, in ACTION_TERMS order)."""
    ev = _term_text(evidence(entry.sources))
    step = _term_text(entry.next_step)
    found = []
    for terms in ACTION_TERMS.values():
        for spellings in terms:
            named = any(_term_text(s) in step for s in spellings) and any(_term_text(s) in ev for s in spellings)
            if named and spellings[0] not in found:
                found.append(spellings[0])
    found += [t for t in dict.fromkeys(TIME_RE.findall(step)) if t in ev]
    return found


def spoken_problems(entry: Entry) -> list[str]:
    """A spoken text drops no offer of a person: when the next step offers one, so does it."""
    if STAFF_OFFER in entry.next_step and STAFF_OFFER not in entry.spoken:
        return [f"{entry.file}: {entry.key}: spoken drops the next step's offer of a person ({STAFF_OFFER})"]
    return []


def next_step_problems(entry: Entry) -> list[str]:
    """A next step with no sourced place, document, channel or time must offer a person."""
    if next_step_terms(entry) or STAFF_OFFER in entry.next_step:
        return []
    return [f"{entry.file}: {entry.key}: the next step names nothing sourced and offers no person"]


def all_problems(kb: KnowledgeBase, fact_sheet: Path | None = None) -> list[str]:
    """Every truth problem in the knowledge base and the emergency lines."""
    problems = [p for e in kb.entries for p in entry_problems(e)]
    problems += [p for e in kb.entries for p in period_problems(e)]
    problems += [p for e in kb.entries for p in next_step_problems(e)]
    problems += [p for e in kb.entries for p in spoken_problems(e)]
    problems += [p for e in kb.entries for p in summary_problems(e)]
    problems += [p for s in kb.sources.values() for p in source_problems(s, fact_sheet)]
    problems += emergency_problems(load_emergency())
    return problems


def measures(kb: KnowledgeBase) -> dict[str, float]:
    """The figures issue 13 asks for: concrete next steps, answer length, cite length."""
    concrete = [e for e in kb.entries if next_step_terms(e)]
    return {
        "entries": len(kb.entries),
        "concrete_next_steps": len(concrete),
        "concrete_share": round(len(concrete) / len(kb.entries), 3),
        "median_answer_chars": statistics.median(len(e.answer) for e in kb.entries),
        "max_answer_chars": max(len(e.answer) for e in kb.entries),
        "median_spoken_chars": statistics.median(len(e.spoken) for e in kb.entries),
        "max_spoken_chars": max(len(e.spoken) for e in kb.entries),
        "median_cite_chars": statistics.median(len(e.cite) for e in kb.entries),
        "sources": len(kb.sources),
        "found_sources": sum(1 for s in kb.sources.values() if s.found),
        "emergency_lines": len(load_emergency()),
    }


if __name__ == "__main__":
    sheet = ROOT_SHARED / "reference" / "policy-facts.md"
    if not sheet.is_file():  # the fact-sheet checks cannot run: that is not "ok"
        print(f"error: the fact sheet {sheet} is missing (set XUNWU_SHARED_DIR); nothing was checked")
        sys.exit(2)
    kb = load()
    found = all_problems(kb, sheet)
    print("\n".join(found) or f"ok: {len(kb.entries)} entries, {len(load_emergency())} emergency lines, no problems")
    for name, value in measures(kb).items():
        print(f"{name}: {value}")
    sys.exit(1 if found else 0)
