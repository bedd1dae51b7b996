"""knowledge/ids.yml carries exactly the 44 IDs of the shared spec, and every ID has entries."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from knowledge.base import IDS_FILE, KEY_RE, KnowledgeBase, area_of

ID_RE = re.compile(r"plan\.[a-z_]+|m\d+\.\d+|g\d+")


def spec_ids(spec: Path) -> list[str]:
    """The IDs in the tables of knowledge-ids.md, in order.

    Plan-level and guarantee tables have the ID in their first cell; the measures table
    lists `m<area>.<item>` items in its second cell.
    """
    found: list[str] = []
    for line in spec.read_text(encoding="utf-8").splitlines():
        if not line.startswith("|") or set(line) <= set("|- "):
            continue
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if ID_RE.fullmatch(cells[0]):
            found.append(cells[0])
        elif re.fullmatch(r"m\d+ .+", cells[0]):
            found.extend(re.findall(r"m\d+\.\d+", cells[1]))
    return found


def test_the_spec_lists_44_ids_in_its_three_groups(spec: Path) -> None:
    ids = spec_ids(spec)
    assert len(ids) == len(set(ids)) == 44
    assert len([i for i in ids if i.startswith("plan.")]) == 4
    assert len([i for i in ids if i.startswith("m")]) == 37
    assert [i for i in ids if i.startswith("g")] == ["g1", "g2", "g3"]
    areas = [area_of(i) for i in ids if i.startswith("m")]
    assert [areas.count(f"m{n}") for n in range(1, 9)] == [6, 6, 3, 5, 3, 5, 3, 6]


def test_ids_yml_has_exactly_the_spec_ids(spec: Path) -> None:
    ids = yaml.safe_load(IDS_FILE.read_text(encoding="utf-8"))
    assert list(ids) == spec_ids(spec)
    assert all(isinstance(name, str) and name.strip() for name in ids.values())


def test_every_id_has_at_least_one_entry(kb: KnowledgeBase) -> None:
    missing = [kid for kid in kb.ids if not kb.for_id(kid)]
    assert missing == []
    assert {e.id for e in kb.entries} == set(kb.ids)


def test_every_area_has_a_name(kb: KnowledgeBase) -> None:
    assert {area_of(kid) for kid in kb.ids} <= set(kb.areas)


def test_entries_are_well_formed(kb: KnowledgeBase) -> None:
    keys = [e.key for e in kb.entries]
    assert len(keys) == len(set(keys))
    for entry in kb.entries:
        assert KEY_RE.match(entry.key), entry.key
        assert entry.title and entry.answer and entry.next_step and entry.examples, entry.key
        assert entry.cite == "；".join(s.cite for s in entry.sources)
