"""Sources: only allowed kinds, fact-sheet excerpts quoted verbatim, never from a 【第三方】 item."""

from __future__ import annotations

from pathlib import Path

import pytest

from knowledge.base import ALLOWED_KINDS, KnowledgeBase, Source
from knowledge.truth import source_problems

# Items of the shared fact sheet (../shared/reference/policy-facts.md), quoted verbatim.
THIRD_PARTY_URL = "https://m.shouchaobaoquan.com/item/sZThjZGIzMmIxZTU0ZDM3NjA1MmJhZGRkh.html"
THIRD_PARTY_EXCERPT = "对评定结论有异议，可在10个工作日内向市级残联申请重新评定"
THIRD_PARTY_REPOST_URL = "https://zibizheng123.com/policy/446348.html"
THIRD_PARTY_REPOST_EXCERPT = "指导思想中提出“为建设革命老区高质量发展示范区贡献力量”"
MEDIA_URL = "http://paper.sxworker.com/xpaper/news/867/4231/36271-1.shtml"
MEDIA_EXCERPT = (
    "自2021年6月28日起，残疾人证 **新办、换领、迁移、挂失补办、注销、残疾类别（等级）变更** 6项事项实行“跨省通办”"
)


def fact(kind: str, excerpt: str, url: str) -> Source:
    return Source(key="test-source", kind=kind, cite="测试来源", excerpts=(excerpt,), url=url)


def test_every_entry_cites_only_allowed_kinds(kb: KnowledgeBase) -> None:
    for entry in kb.entries:
        assert entry.sources, entry.key
        for source in entry.sources:
            assert source.kind in ALLOWED_KINDS, (entry.key, source.key, source.kind)
            assert source.cite, source.key


def test_every_source_is_clean(kb: KnowledgeBase, fact_sheet: Path) -> None:
    problems = [p for s in kb.sources.values() for p in source_problems(s, fact_sheet)]
    assert problems == []


def test_plan_sources_quote_the_plan_summary(kb: KnowledgeBase, shared: Path) -> None:
    plan = "".join((shared / "seed" / "xunwu-plan-summary.txt").read_text(encoding="utf-8").split())
    for source in kb.sources.values():
        if source.kind == "规划":
            assert source.excerpts and all("".join(x.split()) in plan for x in source.excerpts), source.key


@pytest.mark.parametrize(
    ("excerpt", "url"),
    [(THIRD_PARTY_EXCERPT, THIRD_PARTY_URL), (THIRD_PARTY_REPOST_EXCERPT, THIRD_PARTY_REPOST_URL)],
    ids=["第三方", "第三方转载"],
)
def test_an_excerpt_from_a_third_party_item_is_reported(fact_sheet: Path, excerpt: str, url: str) -> None:
    assert excerpt in fact_sheet.read_text(encoding="utf-8")
    for kind in ("官方", "媒体"):
        problems = source_problems(fact(kind, excerpt, url), fact_sheet)
        assert problems == ["source test-source: excerpt comes from a 【第三方】 or untagged item"]


def test_a_media_excerpt_is_accepted_as_media_but_not_as_official(fact_sheet: Path) -> None:
    assert source_problems(fact("媒体", MEDIA_EXCERPT, MEDIA_URL), fact_sheet) == []
    assert source_problems(fact("官方", MEDIA_EXCERPT, MEDIA_URL), fact_sheet) == [
        "source test-source: kind 官方 but the item is tagged ['媒体']"
    ]


def test_an_excerpt_not_in_the_fact_sheet_and_an_unknown_url_are_reported(fact_sheet: Path) -> None:
    problems = source_problems(fact("媒体", "寻乌县护理补贴每月500元", "https://example.org/x"), fact_sheet)
    assert problems == [
        "source test-source: url is not in the fact sheet",
        "source test-source: excerpt not found verbatim: 寻乌县护理补贴每月500元…",
    ]
