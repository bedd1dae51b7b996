"""Sources: only allowed kinds, fact-sheet excerpts quoted verbatim, never from a 【第三方】 item."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from knowledge.base import (
    ALLOWED_KINDS,
    PLAN_LABEL,
    KnowledgeBase,
    KnowledgeError,
    Source,
    check_sources,
    plan_sections,
)
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


def found(kind: str, url: str, publisher: str = "某县人民政府") -> Source:
    excerpts = ("某段原文",)
    return Source("test-page", kind, "某县政府网", excerpts, url=url, publisher=publisher, read="2026-12-01")


def test_every_plan_label_names_its_section_as_the_summary_does(kb: KnowledgeBase) -> None:
    names = {name for name, _ in plan_sections() if name}
    assert names == {"背景", "目标", "主要内容", "重点任务", "主要举措", "下一步工作要求"}
    plan = [s for s in kb.sources.values() if s.kind == "规划"]
    assert len(plan) == 15
    for source in plan:
        assert source.cite == f"{PLAN_LABEL}“{source.section}”", source.key
        assert "部分" not in source.cite, source.key
    assert kb.sources["plan-5-1"].section == "主要举措（一）"
    assert kb.sources["plan-6-3"].section == "下一步工作要求（三）"


@pytest.mark.parametrize(
    ("cite", "problem"),
    [
        ("规划第五部分（一）", "does not name its section"),
        ("寻乌县规划解读“主要举措（二）”", "does not name its section"),
        ("寻乌县规划解读“主要举措（一）”第五部分", "numbers a part"),
    ],
)
def test_a_plan_label_that_names_no_real_section_is_reported(kb: KnowledgeBase, cite: str, problem: str) -> None:
    bad = dataclasses.replace(kb.sources["plan-5-1"], cite=cite)
    problems = source_problems(bad)
    assert problems and all(p.startswith("source plan-5-1: label") for p in problems)
    assert any(problem in p for p in problems), problems


def test_a_label_naming_an_article_its_excerpts_lack_is_reported(kb: KnowledgeBase) -> None:
    law = kb.sources["legal-aid-law"]
    assert source_problems(law) == []
    assert source_problems(dataclasses.replace(law, cite="《法律援助法》第三十一条")) == [
        "source legal-aid-law: label names '第三十一条', which its excerpts do not contain"
    ]


def test_a_bad_source_stops_loading_and_names_the_entries_citing_it(kb: KnowledgeBase) -> None:
    bad = dataclasses.replace(kb.sources["plan-5-1"], cite="规划第五部分（一）")
    sources = {**kb.sources, "plan-5-1": bad}
    entries = [dataclasses.replace(e, sources=tuple(sources[s.key] for s in e.sources)) for e in kb.entries]
    with pytest.raises(KnowledgeError, match=r"plan-5-1.*cited by .*m1-social-security.yml: care-services"):
        check_sources(entries, sources)


def test_found_pages_have_a_publisher_a_day_read_and_an_honest_kind(kb: KnowledgeBase) -> None:
    pages = [s for s in kb.sources.values() if s.found]
    assert len(pages) >= 25
    for page in pages:
        assert page.publisher and page.url and page.excerpts and page.level, page.key
        assert source_problems(page) == [], page.key


def test_official_means_a_government_or_dpf_site() -> None:
    assert source_problems(found("官方", "https://www.ahjinzhai.gov.cn/public/1.html")) == []
    assert source_problems(found("官方", "http://www.gzhdpf.org.cn/c1/2.shtml")) == []
    assert source_problems(found("官方", "https://news.example.com/a.html")) == [
        "source test-page: kind 官方 but news.example.com is not a government or 残联 site"
    ]
    assert source_problems(found("媒体", "https://news.example.com/a.html")) == []


def test_a_found_page_without_publisher_or_tagged_third_party_is_reported(fact_sheet: Path) -> None:
    assert source_problems(found("媒体", "https://a.cn/x", publisher=""), fact_sheet) == [
        "source test-page: a found page needs its publisher"
    ]
    assert source_problems(found("媒体", THIRD_PARTY_URL), fact_sheet) == [
        "source test-page: the fact sheet tags this page 【第三方】"
    ]
