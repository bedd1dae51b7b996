"""Bad knowledge files stop loading (and so training and `make test`) with a message that
names the file and the entry."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

import knowledge.base as base
from knowledge.base import KnowledgeError


@pytest.fixture
def copy_of_knowledge(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A private copy of knowledge/entries and sources.yml that load() reads instead."""
    entries = tmp_path / "entries"
    shutil.copytree(base.ENTRIES_DIR, entries)
    sources = tmp_path / "sources.yml"
    shutil.copy(base.SOURCES_FILE, sources)
    monkeypatch.setattr(base, "ENTRIES_DIR", entries)
    monkeypatch.setattr(base, "SOURCES_FILE", sources)
    base.load.cache_clear()
    yield tmp_path
    base.load.cache_clear()


def edit_entry(folder: Path, key: str, **changes: object) -> None:
    path = folder / "entries" / "m1-social-security.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    for raw in doc["entries"]:
        if raw["key"] == key:
            raw.update(changes)
            for name in [k for k, v in changes.items() if v is None]:  # None removes the field
                del raw[name]
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), encoding="utf-8")


def test_the_copy_loads_like_the_real_knowledge(copy_of_knowledge: Path) -> None:
    assert len(base.load().entries) >= 112


def test_a_missing_source_names_the_entry(copy_of_knowledge: Path) -> None:
    edit_entry(copy_of_knowledge, "subsidies-both", sources=["jx-subsidies-faq", "no-such-page"])
    with pytest.raises(KnowledgeError, match=r"m1-social-security.yml: subsidies-both: unknown source 'no-such-page'"):
        base.load()


def test_a_duplicated_key_names_both_entries(copy_of_knowledge: Path) -> None:
    path = copy_of_knowledge / "entries" / "m1-social-security.yml"
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    twin = dict(doc["entries"][0], examples=["一个新的问法"])
    extra = copy_of_knowledge / "entries" / "zz-extra.yml"
    extra.write_text(yaml.safe_dump({"entries": [twin]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"duplicate entry keys: m1-social-security.yml: two-subsidies"):
        base.load()


def test_a_label_that_names_no_section_names_the_entries_citing_it(copy_of_knowledge: Path) -> None:
    sources = copy_of_knowledge / "sources.yml"
    text = sources.read_text(encoding="utf-8").replace(
        "cite: 寻乌县规划解读“主要举措（二）”", "cite: 规划第五部分（二）"
    )
    sources.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"plan-5-2: label '规划第五部分（二）'.*cited by .*m2-employment.yml"):
        base.load()


def test_an_excerpt_not_in_the_fact_sheet_names_the_entries_citing_it(copy_of_knowledge: Path) -> None:
    sources = copy_of_knowledge / "sources.yml"
    text = sources.read_text(encoding="utf-8").replace("均达到每人每月80元", "均达到每人每月800元")
    sources.write_text(text, encoding="utf-8")
    with pytest.raises(KnowledgeError, match=r"excerpt not found verbatim.*cited by .*subsidies-amount"):
        base.load()


def test_a_missing_spoken_text_names_the_entry(copy_of_knowledge: Path) -> None:
    edit_entry(copy_of_knowledge, "subsidies-both", spoken=None)
    with pytest.raises(KnowledgeError, match=r"m1-social-security.yml: subsidies-both: spoken is missing"):
        base.load()


def test_an_empty_spoken_text_names_the_entry(copy_of_knowledge: Path) -> None:
    edit_entry(copy_of_knowledge, "subsidies-both", spoken="  ")
    with pytest.raises(KnowledgeError, match=r"m1-social-security.yml: subsidies-both: spoken is missing"):
        base.load()


def test_an_over_long_spoken_text_names_the_entry(copy_of_knowledge: Path) -> None:
    long = "可以同时领。" + "带上残疾人证，到户口所在的乡镇窗口申请。" * 3  # 6 + 3 × 20 characters
    edit_entry(copy_of_knowledge, "subsidies-both", spoken=long)
    with pytest.raises(
        KnowledgeError,
        match=rf"m1-social-security.yml: subsidies-both: spoken has 66 characters, at most {base.SPOKEN_MAX_CHARS}",
    ):
        base.load()
    edit_entry(copy_of_knowledge, "subsidies-both", spoken=long[:60])  # the limit itself is allowed
    base.load.cache_clear()
    assert base.load().by_key["subsidies-both"].spoken == long[:60]
