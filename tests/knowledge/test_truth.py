"""Truth checks: figures are in the sources, amounts are dated and hedged, plans carry their
years, and next steps name what the sources give."""

from __future__ import annotations

import copy
import dataclasses
import statistics
from pathlib import Path

import pytest
import yaml

from knowledge.base import (
    COUNTY_CAVEAT,
    ENTRIES_DIR,
    MONEY_RE,
    SPOKEN_MAX_CHARS,
    Entry,
    KnowledgeBase,
    KnowledgeError,
    Source,
    _entry,
)
from knowledge.truth import (
    all_problems,
    claims,
    entry_problems,
    evidence,
    figure_problems,
    measures,
    next_step_problems,
    next_step_terms,
    period_problems,
    spoken_problems,
    summary_problems,
)


def with_answer(entry: Entry, extra: str) -> Entry:
    return dataclasses.replace(entry, answer=entry.answer + extra)


def raw_entry(key: str) -> tuple[dict, str]:
    """The entry `key` as written in knowledge/entries (a copy), and its file name."""
    for path in sorted(ENTRIES_DIR.glob("*.yml")):
        for raw in yaml.safe_load(path.read_text(encoding="utf-8"))["entries"]:
            if raw["key"] == key:
                return copy.deepcopy(raw), path.name
    raise KeyError(key)


def test_the_knowledge_base_has_no_truth_problems(kb: KnowledgeBase, fact_sheet: Path) -> None:
    assert all_problems(kb, fact_sheet) == []
    assert all_problems(kb) == []  # the default fact sheet is the shared one


def test_claims_finds_numbers_numerals_and_document_numbers() -> None:
    found = claims("国发〔2015〕52号文件规定，覆盖率100%，有效期十年，电话0797-2831234，见 https://a.cn/1")
    assert "国发〔2015〕52号" in found
    assert "0797-2831234" in found
    assert {"100", "十年"} <= set(found)
    assert "1" not in found  # numbers inside links are not claims


def test_a_number_not_in_the_sources_is_reported(kb: KnowledgeBase) -> None:
    entry = kb.by_key["subsidies-amount"]
    bad = with_answer(entry, "寻乌县现在是每人每月999元。")
    assert entry_problems(entry) == []
    assert entry_problems(bad) == [f"{entry.file}: subsidies-amount: '999' is not in its sources"]

    broken = dataclasses.replace(kb, entries=(bad, *[e for e in kb.entries if e is not entry]), by_key={})
    assert all_problems(broken) == [f"{entry.file}: subsidies-amount: '999' is not in its sources"]


@pytest.mark.parametrize(
    ("extra", "claim"),
    [
        ("残疾人证有效期十五年。", "十五年"),
        ("依据是国发〔2099〕7号文件。", "国发〔2099〕7号"),
        ("县残联电话0797-2899999。", "0797-2899999"),
    ],
)
def test_numerals_document_numbers_and_phones_not_in_the_sources_are_reported(
    kb: KnowledgeBase, extra: str, claim: str
) -> None:
    entry = kb.by_key["two-subsidies"]
    problems = entry_problems(with_answer(entry, extra))
    assert problems
    assert all(p.startswith(f"{entry.file}: two-subsidies: ") for p in problems)
    assert any(claim in p for p in problems), problems


def test_a_figure_that_is_in_the_sources_is_accepted(kb: KnowledgeBase) -> None:
    entry = kb.by_key["two-subsidies"]
    assert entry_problems(with_answer(entry, "国发〔2015〕52号文件；照护要持续6个月以上。")) == []


def test_figures_of_two_excerpts_never_run_together(kb: KnowledgeBase) -> None:
    """ "…by 2025." followed by "120和999…" must not read as the number 2025.120."""
    entry = kb.by_key["public-health-emergency"]
    assert "｜" in evidence(entry.sources)
    assert entry_problems(entry) == []


def test_figures_in_detail_and_next_step_are_checked_too(kb: KnowledgeBase) -> None:
    entry = kb.by_key["two-subsidies"]
    assert entry_problems(dataclasses.replace(entry, detail=entry.detail + "惠及3333万人。"))
    assert entry_problems(dataclasses.replace(entry, next_step=entry.next_step + "拨打12385。"))


# ───────────── spoken texts (the answer for the ear) ─────────────


def test_every_entry_has_a_short_spoken_text_that_passes_the_checks(kb: KnowledgeBase) -> None:
    for entry in kb.entries:
        assert 0 < len(entry.spoken) <= SPOKEN_MAX_CHARS, entry.key
        assert entry.spoken in entry.texts, entry.key
    assert [p for e in kb.entries for p in spoken_problems(e)] == []
    assert measures(kb)["max_spoken_chars"] <= SPOKEN_MAX_CHARS


def test_a_spoken_number_not_in_the_sources_is_reported(kb: KnowledgeBase) -> None:
    entry = kb.by_key["subsidies-amount"]
    assert "80元" in entry.spoken and entry_problems(entry) == []
    bad = dataclasses.replace(entry, spoken=entry.spoken.replace("80元", "999元"))
    assert entry_problems(bad) == [f"{entry.file}: subsidies-amount: spoken: '999' is not in its sources"]
    broken = dataclasses.replace(kb, entries=(bad, *[e for e in kb.entries if e is not entry]), by_key={})
    assert all_problems(broken) == [f"{entry.file}: subsidies-amount: spoken: '999' is not in its sources"]
    numeral = dataclasses.replace(entry, spoken="残疾人证有效期十五年。请说：转人工。")
    assert entry_problems(numeral) == [f"{entry.file}: subsidies-amount: spoken: '十五年' is not in its sources"]


def test_a_spoken_plan_without_its_years_is_reported(kb: KnowledgeBase) -> None:
    entry = kb.by_key["dpf-reform"]
    assert "2021到2025年的规划" in entry.spoken and period_problems(entry) == []
    bad = dataclasses.replace(entry, spoken=entry.spoken.replace("2021到2025年的", ""))
    problems = period_problems(bad)
    assert len(problems) == 1 and "dpf-reform: names a plan without its years" in problems[0], problems


def test_a_spoken_text_keeps_the_offer_of_a_person(kb: KnowledgeBase) -> None:
    entry = kb.by_key["care-local"]
    assert "转人工" in entry.next_step and spoken_problems(entry) == []
    dropped = dataclasses.replace(entry, spoken="寻乌县的托养机构，我没有可靠的资料。")
    assert spoken_problems(dropped) == [
        f"{entry.file}: care-local: spoken drops the next step's offer of a person (转人工)"
    ]
    no_offer = kb.by_key["subsidies-both"]  # its next step offers no person: nothing to keep
    assert "转人工" not in no_offer.next_step + no_offer.spoken and spoken_problems(no_offer) == []


def test_an_amount_in_spoken_carries_its_own_hedge(kb: KnowledgeBase) -> None:
    """The spoken text is heard alone: the written answer's hedge does not cover it."""
    raw, file = raw_entry("subsidies-amount")
    assert COUNTY_CAVEAT in raw["spoken"] and COUNTY_CAVEAT in raw["answer"]
    unhedged = {**raw, "spoken": raw["spoken"].replace(COUNTY_CAVEAT, "")}
    with pytest.raises(KnowledgeError, match=r"subsidies-amount: spoken: an amount needs as_of"):
        _entry(unhedged, file, kb.sources, kb.ids)
    national = {**unhedged, "spoken": "国家规定每人每月80元。请说：转人工。"}
    assert _entry(national, file, kb.sources, kb.ids).spoken.startswith("国家规定")


def test_amounts_carry_as_of_and_the_county_caveat(kb: KnowledgeBase) -> None:
    with_amounts = [e for e in kb.entries if any(MONEY_RE.search(t) for t in e.texts)]
    assert {e.key for e in with_amounts} >= {"subsidies-amount"}
    for entry in with_amounts:
        assert entry.as_of, entry.key
        national = all("国家" in t or "全国" in t for t in entry.texts if MONEY_RE.search(t))
        assert national or COUNTY_CAVEAT in " ".join(entry.texts), entry.key


def test_an_amount_without_as_of_or_caveat_is_refused(kb: KnowledgeBase) -> None:
    raw, file = raw_entry("subsidies-amount")
    assert _entry(raw, file, kb.sources, kb.ids) == kb.by_key["subsidies-amount"]

    undated = {k: v for k, v in raw.items() if k != "as_of"}
    with pytest.raises(KnowledgeError, match="as_of"):
        _entry(undated, file, kb.sources, kb.ids)

    unhedged = {**raw, "answer": raw["answer"].replace(COUNTY_CAVEAT, "")}
    assert COUNTY_CAVEAT not in unhedged["answer"]
    with pytest.raises(KnowledgeError, match=COUNTY_CAVEAT):
        _entry(unhedged, file, kb.sources, kb.ids)


def test_an_entry_with_an_unknown_id_or_source_is_refused(kb: KnowledgeBase) -> None:
    raw, file = raw_entry("card-lost")
    with pytest.raises(KnowledgeError, match="44 knowledge IDs"):
        _entry({**raw, "id": "m9.1"}, file, kb.sources, kb.ids)
    with pytest.raises(KnowledgeError, match="unknown source"):
        _entry({**raw, "sources": ["baike-page"]}, file, kb.sources, kb.ids)


def test_a_national_amount_needs_no_county_hedge_but_a_local_one_does(kb: KnowledgeBase) -> None:
    raw, file = raw_entry("school-funding-aid")
    entry = _entry(raw, file, kb.sources, kb.ids)
    assert "6000元" in entry.answer and COUNTY_CAVEAT not in " ".join(entry.texts)
    local = {**raw, "answer": raw["answer"].replace("国家规定，", "寻乌县规定，").replace("国新办", "县里")}
    with pytest.raises(KnowledgeError, match=COUNTY_CAVEAT):
        _entry(local, file, kb.sources, kb.ids)


def test_the_county_hedge_is_only_said_beside_a_local_amount(kb: KnowledgeBase) -> None:
    """ "以县里当年公布为准" belongs to county amounts, not to national rules (12年免费教育)."""
    for entry in kb.entries:
        if COUNTY_CAVEAT in " ".join(entry.texts):
            assert any(MONEY_RE.search(t) for t in entry.texts), entry.key
    assert COUNTY_CAVEAT not in " ".join(kb.by_key["free-education"].texts)


# ───────────── periods ─────────────


def test_every_entry_says_the_years_of_the_plans_it_names(kb: KnowledgeBase) -> None:
    assert [p for e in kb.entries for p in period_problems(e)] == []
    plan_entries = [e for e in kb.entries if any(s.kind == "规划" for s in e.sources)]
    assert len(plan_entries) >= 30
    for entry in plan_entries:
        assert "2021到2025年" in " ".join(entry.texts), entry.key


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("寻乌县规划提出完善残疾人社会救助保障。", "names a plan without its years"),
        ("国家促进残疾人就业三年行动方案有就业服务提升行动。", "names a plan without its years"),
        ("按寻乌县2021到2025年的规划，到2025年残疾人生活品质有新改善。", None),
        ("到2025年，残疾人生活品质有新改善。", "as if ahead"),
        ("残疾人生活品质到2025年有新改善的目标已经到期。", None),
        ("县级以上政府要把无障碍环境建设纳入发展规划。", None),
    ],
)
def test_a_plan_without_its_years_or_a_passed_target_is_reported(
    kb: KnowledgeBase, text: str, problem: str | None
) -> None:
    entry = dataclasses.replace(kb.by_key["disability-dibao"], answer=text, detail="", next_step="转人工。")
    problems = period_problems(entry, year=2026)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0] and "disability-dibao" in problems[0], problems


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        # the 2026-12 audit: a second plan named without its own years (inclusive-education)
        ("国家2021到2025年的行动计划提出过推进融合教育。江西省的规划要求随班就读。", "names another plan (江西省)"),
        ("寻乌县2021到2025年的规划有14项指标。国家规划共11项主要指标。", "names another plan (国家)"),
        ("国家2021到2025年的特殊教育行动计划提出过推进融合教育。江西省2021到2025年的规划要求随班就读。", None),
        ("寻乌县2021到2025年的规划已经到期。寻乌县的新规划，我这里还没有记录。", None),
        ("寻乌县2021到2025年的规划提出过提升残疾人公共文化服务。寻乌县的规划还提出过推进残疾人体育。", None),
        # "十四五" / "十五五" said without their years (culture-services, modern-tech)
        ("全国“十四五”期间，建有1659个盲人阅览室。", "five-year period without its years"),
        ("国家“十五五”的方向是推动人工智能应用于残疾人领域。", "five-year period without its years"),
        ("全国“十四五”期间（2021到2025年），建有1659个盲人阅览室。", None),
    ],
)
def test_every_plan_and_five_year_period_named_says_its_years(
    kb: KnowledgeBase, text: str, problem: str | None
) -> None:
    entry = dataclasses.replace(
        kb.by_key["disability-dibao"], answer=text, detail="", next_step="转人工。", spoken="转人工。"
    )
    problems = period_problems(entry, year=2026)
    if problem is None:
        assert problems == []
    else:
        assert len(problems) == 1 and problem in problems[0], problems


@pytest.mark.parametrize(
    ("text", "bad"),
    [
        ("寻乌县2021到2025年的规划提出过加强残疾预防，但没有写具体做法。", True),
        ("寻乌县2021到2025年的规划提出过深化残联改革，但没写具体内容。", True),
        ("寻乌县2021到2025年的规划提出过加强残疾预防，县里的解读没有写具体做法。", False),
        ("具体哪个部门负责哪件事，县里的解读没有写。", False),
    ],
)
def test_only_the_summary_is_said_not_to_give_a_detail(kb: KnowledgeBase, text: str, bad: bool) -> None:
    """The project has the county plan's summary, not the plan: "规划…没有写" claims what the
    plan says (the 2026-12 audit found it in 12 entries)."""
    entry = dataclasses.replace(kb.by_key["disability-prevention"], answer=text, detail="", spoken="转人工。")
    assert bool(summary_problems(entry)) is bad
    assert [p for e in kb.entries for p in summary_problems(e)] == []


def test_a_programme_still_running_is_not_a_passed_target(kb: KnowledgeBase) -> None:
    entry = kb.by_key["employment-quota"]
    assert "2027年底前" in entry.answer
    assert period_problems(entry, year=2026) == []


# ───────────── next steps and length ─────────────


def test_most_entries_give_a_sourced_place_document_channel_or_time(kb: KnowledgeBase) -> None:
    figures = measures(kb)
    assert figures["concrete_share"] >= 0.70, figures
    for entry in kb.entries:
        if not next_step_terms(entry):
            assert "转人工" in entry.next_step or "接着问我" in entry.next_step, entry.key
    assert [p for e in kb.entries for p in next_step_problems(e)] == []


def test_a_next_step_term_counts_only_when_the_sources_give_it(kb: KnowledgeBase) -> None:
    entry = kb.by_key["subsidies-apply"]
    assert {"乡镇（街道）", "受理窗口", "残疾人证", "民政通"} <= set(next_step_terms(entry))
    unsourced = dataclasses.replace(entry, next_step="拨打12345反映，或去县政务服务大厅。")
    assert next_step_terms(unsourced) == []
    assert next_step_problems(unsourced) == [
        "m1-social-security.yml: subsidies-apply: the next step names nothing sourced and offers no person"
    ]
    assert next_step_problems(dataclasses.replace(unsourced, next_step="需要工作人员帮忙，请回复：转人工。")) == []


def test_a_place_counts_only_at_the_level_its_source_gives(kb: KnowledgeBase) -> None:
    """南昌市残联 (a city's DPF) in a source does not back 县残联 (the county's) in a next step."""
    city = Source(
        key="bad-city-source",
        kind="官方",
        cite="南昌市残联网站",
        excerpts=("据统计,1~2月全市共登记失业残疾人4711人,作者:南昌市残联",),
        url="http://ncsdpf.org.cn/home/article/index/id/1097.html",
        publisher="南昌市残疾人联合会（江西）",
        read="2026-12-01",
    )
    bad = dataclasses.replace(kb.by_key["job-search-services"], next_step="可以到县残联登记求职。", sources=(city,))
    assert next_step_terms(bad) == []
    assert next_step_problems(bad)
    # the same level in the source and the step does count: 市残联 backs 市残联
    assert next_step_terms(dataclasses.replace(bad, next_step="可以到市残联登记求职。")) == ["市残联"]
    # and a county's DPF in a source backs 县残联 ("县级残联" and "县残联" are one level)
    county = dataclasses.replace(city, excerpts=("由监护人向户籍所在地县级残联提出申请",))
    assert next_step_terms(dataclasses.replace(bad, sources=(county,))) == ["县级残联"]


def test_answers_are_short_enough_to_be_read_aloud(kb: KnowledgeBase) -> None:
    lengths = [len(e.answer) for e in kb.entries]
    assert statistics.median(lengths) <= 120
    assert max(lengths) <= 130, max(zip(lengths, [e.key for e in kb.entries], strict=True))


def test_the_seven_audit_findings_stay_fixed(kb: KnowledgeBase) -> None:
    """Issue 13's findings, each a sentence the entry now says."""
    both = kb.by_key["subsidies-both"]
    assert both.answer.startswith("可以同时领") and "jx-subsidies-faq" in {s.key for s in both.sources}
    assert "办残疾人证时" in kb.by_key["policy-finds-people"].detail
    assert "有材料证明" in kb.by_key["employment-rights"].answer
    assert "第三代" in kb.by_key["card-looks"].answer
    assert "home-accessibility-jiangxi" not in {s.key for s in kb.by_key["home-accessibility-apply"].sources}
    for key in ("employment-quota", "job-search-services"):
        keys = {s.key for s in kb.by_key[key].sources}
        assert "employment-action-2022" not in keys and keys & {"employment-2025-text", "employment-action-2025"}, key


def test_the_greeting_and_help_tell_the_plan_period_from_a_source(kb: KnowledgeBase) -> None:
    """The greeting, /start and /help say the plan's years; the years are sourced."""
    from common.texts import responses

    period = kb.sources["plan-period"]
    for name in ("utter_greet", "utter_bot_start", "utter_bot_help"):
        text = responses()[name]
        assert "2021到2025年" in text and "寻乌县" in text, name
        assert figure_problems((text,), (period,), name) == [], name


def test_the_command_fails_when_the_fact_sheet_is_missing(tmp_path: Path) -> None:
    """`python -m knowledge.truth` never says "ok" for checks it could not run."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "XUNWU_SHARED_DIR": str(tmp_path / "no-shared")}
    proc = subprocess.run([sys.executable, "-m", "knowledge.truth"], env=env, capture_output=True, text=True)
    assert proc.returncode == 2 and "missing" in proc.stdout and "ok" not in proc.stdout
