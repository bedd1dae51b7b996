"""Mechanical truth checks: every figure an answer says must be in its cited sources.

`python -m knowledge.truth` prints every problem (exit 1 when there is one); the tests run
the same checks.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from knowledge.base import ROOT_SHARED, Entry, KnowledgeBase, Source, load

# Arabic numbers (80, 1.5, 2021), Chinese numerals with a measure word (十年, 一级, 两万户),
# phone-like digit runs, and document numbers (国发〔2015〕52号).
NUMBER_RE = re.compile(r"\d+(?:\.\d+)?")
CN_NUMBER_RE = re.compile(r"[零一二两三四五六七八九十百千万]+(?:个月|级|岁|年|元|项|条|章|户|人|名|周|天|倍)")
DOC_RE = re.compile(r"[\u4e00-\u9fff]{0,4}〔\d{4}〕\d+号")
PHONE_RE = re.compile(r"(?:\d[\d\- ]{6,}\d)")
URL_RE = re.compile(r"https?://\S+|www\.\S+", re.I)
FACT_TAG_RE = re.compile(r"【([^】]+)】")


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


def entry_problems(entry: Entry) -> list[str]:
    """Figures in the entry's texts that none of its sources' excerpts contain."""
    evidence = _plain(" ".join(x for s in entry.sources for x in s.excerpts))
    evidence_numbers = _numbers(evidence)
    problems = []
    for text in entry.texts:
        for claim in claims(text):
            plain = _plain(claim)
            if NUMBER_RE.fullmatch(plain):
                ok = plain in evidence_numbers
            elif "〔" in plain:  # a 文号: its issuer (two characters at least) and number
                core = plain[plain.index("〔") - 2 :] if plain.index("〔") >= 2 else plain
                ok = core in evidence
            else:
                ok = plain in evidence
            if not ok:
                problems.append(f"{entry.file}: {entry.key}: {claim!r} is not in its sources")
    return problems


def _fact_sheet_lines(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def source_problems(source: Source, fact_sheet: Path) -> list[str]:
    """A fact-sheet source must quote an item verbatim, and never a 【第三方】 item."""
    if source.kind == "规划":
        return []
    lines = _fact_sheet_lines(fact_sheet)
    problems = []
    if source.url and source.url not in fact_sheet.read_text(encoding="utf-8"):
        problems.append(f"source {source.key}: url is not in the fact sheet")
    for excerpt in source.excerpts:
        want = _plain(excerpt)
        hits = [i for i, line in enumerate(lines) if want in _plain(line)]
        if not hits:
            problems.append(f"source {source.key}: excerpt not found verbatim: {excerpt[:30]}…")
            continue
        i = hits[0]
        tagged = i
        while tagged >= 0 and not FACT_TAG_RE.search(lines[tagged]):
            tagged -= 1
        tags = FACT_TAG_RE.findall(lines[tagged]) if tagged >= 0 else []
        if not tags or any("第三方" in t for t in tags):
            problems.append(f"source {source.key}: excerpt comes from a 【第三方】 or untagged item")
        elif not any(source.kind in t or t in source.kind for t in tags):
            problems.append(f"source {source.key}: kind {source.kind} but the item is tagged {tags}")
    return problems


def all_problems(kb: KnowledgeBase, fact_sheet: Path | None = None) -> list[str]:
    """Every truth problem in the knowledge base."""
    problems = [p for e in kb.entries for p in entry_problems(e)]
    sheet = fact_sheet or ROOT_SHARED / "reference" / "policy-facts.md"
    if sheet.is_file():
        problems += [p for s in kb.sources.values() for p in source_problems(s, sheet)]
    return problems


if __name__ == "__main__":
    sheet = ROOT_SHARED / "reference" / "policy-facts.md"
    if not sheet.is_file():  # the fact-sheet checks cannot run: that is not "ok"
        print(f"error: the fact sheet {sheet} is missing (set XUNWU_SHARED_DIR); nothing was checked")
        sys.exit(2)
    found = all_problems(load(), sheet)
    print("\n".join(found) or f"ok: {len(load().entries)} entries and their sources, no problems")
    sys.exit(1 if found else 0)
