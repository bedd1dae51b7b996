"""The knowledge base: entries written in residents' words, each tied to a recorded source.

`knowledge/entries/*.yml` holds the entries, `knowledge/sources/sources.yml` the sources,
`knowledge/ids.yml` the 44 IDs. `load()` reads and checks them all; everything else
(NLU training data, retrieval, answers, reports) is derived from what it returns.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import yaml

HERE = Path(__file__).resolve().parent
ENTRIES_DIR = HERE / "entries"
SOURCES_FILE = HERE / "sources" / "sources.yml"
PLAN_FILE = HERE / "sources" / "xunwu-plan-summary.txt"
IDS_FILE = HERE / "ids.yml"
AREAS_FILE = HERE / "areas.yml"
# The shared inputs (spec, fact sheet) beside the repository, as CI and developers have them.
ROOT_SHARED = Path(os.environ.get("XUNWU_SHARED_DIR", HERE.parent.parent / "shared"))

ALLOWED_KINDS = ("规划", "官方", "官方转载", "媒体")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MONEY_RE = re.compile(r"\d+(?:\.\d+)?\s*(?:元|万元)")
COUNTY_CAVEAT = "以县里当年公布为准"


class KnowledgeError(ValueError):
    """The knowledge files break a rule; the message says which file and entry."""


@dataclass(frozen=True)
class Source:
    """Where a fact comes from."""

    key: str
    kind: str
    cite: str
    excerpts: tuple[str, ...]
    url: str = ""
    as_of: str = ""


@dataclass(frozen=True)
class Entry:
    """One answer the assistant can give, with the questions it answers."""

    key: str
    id: str
    title: str
    answer: str
    next_step: str
    sources: tuple[Source, ...]
    examples: tuple[str, ...]
    topics: tuple[str, ...] = ()
    detail: str = ""
    as_of: str = ""
    file: str = ""

    @property
    def area(self) -> str:
        """The plan area of the entry's ID: `m1`, `plan`, `g`…"""
        return area_of(self.id)

    @property
    def cite(self) -> str:
        """The source line said after the answer."""
        return "；".join(s.cite for s in self.sources)

    @property
    def texts(self) -> tuple[str, ...]:
        """Every text an answer built from this entry can say."""
        return tuple(t for t in (self.answer, self.detail, self.next_step) if t)


@dataclass(frozen=True)
class KnowledgeBase:
    """All entries, by key and by knowledge ID."""

    entries: tuple[Entry, ...]
    sources: dict[str, Source]
    ids: dict[str, str]
    areas: dict[str, str]
    fingerprint: str
    by_key: dict[str, Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_key.update({e.key: e for e in self.entries})

    def for_id(self, kid: str) -> list[Entry]:
        """The entries that carry knowledge ID `kid`."""
        return [e for e in self.entries if e.id == kid]

    def topic_family(self, entry: Entry) -> list[Entry]:
        """The entries that share a follow-up topic with `entry` (itself first)."""
        family = [entry]
        for other in self.entries:
            if other is not entry and set(other.topics) & set(entry.topics):
                family.append(other)
        return family


def area_of(kid: str) -> str:
    """`m1.5` → `m1`, `plan.goals` → `plan`, `g2` → `g`."""
    if kid.startswith("plan."):
        return "plan"
    if kid.startswith("g"):
        return "g"
    return kid.split(".", 1)[0]


def _plan_paragraph(locate: str, through: str | None) -> str:
    """The paragraph of the plan summary that starts with `locate` (up to `through`)."""
    lines = [ln.strip() for ln in PLAN_FILE.read_text(encoding="utf-8").splitlines()]
    for i, line in enumerate(lines):
        if line.startswith(locate):
            if not through:
                return line
            out = [line]
            for nxt in lines[i + 1 :]:
                out.append(nxt)
                if nxt.startswith(through):
                    return "\n".join(out)
    raise KnowledgeError(f"sources.yml: no paragraph of the plan summary starts with {locate!r}")


def _load_sources() -> dict[str, Source]:
    raw = yaml.safe_load(SOURCES_FILE.read_text(encoding="utf-8")) or {}
    out: dict[str, Source] = {}
    for key, spec in raw.items():
        kind = spec.get("kind", "")
        if kind not in ALLOWED_KINDS:
            raise KnowledgeError(f"sources.yml: {key}: kind {kind!r} is not one of {ALLOWED_KINDS}")
        if kind == "规划":
            excerpts: tuple[str, ...] = (_plan_paragraph(spec["locate"], spec.get("through")),)
        else:
            excerpts = tuple(spec.get("excerpts") or ())
            if not excerpts or not spec.get("url"):
                raise KnowledgeError(f"sources.yml: {key}: a fact-sheet source needs url and excerpts")
        if not spec.get("cite"):
            raise KnowledgeError(f"sources.yml: {key}: cite is missing")
        out[key] = Source(
            key=key,
            kind=kind,
            cite=spec["cite"],
            excerpts=excerpts,
            url=spec.get("url", ""),
            as_of=str(spec.get("as_of", "")),
        )
    return out


_CJK_GAP = re.compile(r"(?<=[^\x00-\x7f])\s+(?=[^\x00-\x7f])")


def _text(value: object) -> str:
    """One line of text: whitespace collapsed, and none left between Chinese characters
    (YAML folds line breaks into spaces, which Chinese does not use)."""
    return _CJK_GAP.sub("", " ".join(str(value or "").split()))


def _entry(raw: dict, file: str, sources: dict[str, Source], ids: dict[str, str]) -> Entry:
    key = raw.get("key", "")
    where = f"{file}: {key or '?'}"
    if not KEY_RE.match(key):
        raise KnowledgeError(f"{where}: key must be lower-case letters, digits and '-'")
    if raw.get("id") not in ids:
        raise KnowledgeError(f"{where}: id {raw.get('id')!r} is not one of the 44 knowledge IDs")
    for required in ("title", "answer", "next_step", "sources", "examples"):
        if not raw.get(required):
            raise KnowledgeError(f"{where}: {required} is missing")
    cited = []
    for skey in raw["sources"]:
        if skey not in sources:
            raise KnowledgeError(f"{where}: unknown source {skey!r}")
        cited.append(sources[skey])
    examples = tuple(dict.fromkeys(_text(x) for x in raw["examples"] if _text(x)))
    entry = Entry(
        key=key,
        id=raw["id"],
        title=_text(raw["title"]),
        answer=_text(raw["answer"]),
        next_step=_text(raw["next_step"]),
        detail=_text(raw.get("detail")),
        sources=tuple(cited),
        examples=examples,
        topics=tuple(raw.get("topics") or ()),
        as_of=str(raw.get("as_of", "") or ""),
        file=file,
    )
    has_amount = any(MONEY_RE.search(t) for t in entry.texts)
    if has_amount and (not entry.as_of or COUNTY_CAVEAT not in " ".join(entry.texts)):
        raise KnowledgeError(f"{where}: an amount needs as_of and the words {COUNTY_CAVEAT!r}")
    return entry


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@lru_cache(maxsize=1)
def load() -> KnowledgeBase:
    """Read and check every knowledge file (cached for the life of the process)."""
    ids = yaml.safe_load(IDS_FILE.read_text(encoding="utf-8"))
    areas = yaml.safe_load(AREAS_FILE.read_text(encoding="utf-8"))
    sources = _load_sources()
    files = sorted(ENTRIES_DIR.glob("*.yml"))
    entries: list[Entry] = []
    for path in files:
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for raw in doc.get("entries") or []:
            entries.append(_entry(raw, path.name, sources, ids))
    keys = [e.key for e in entries]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        raise KnowledgeError(f"duplicate entry keys: {sorted(dupes)}")
    owner: dict[str, str] = {}
    for entry in entries:
        for example in entry.examples:
            if owner.setdefault(example, entry.key) != entry.key:
                raise KnowledgeError(f"example {example!r} is in both {owner[example]} and {entry.key}")
    fp = _fingerprint([*files, SOURCES_FILE, PLAN_FILE, IDS_FILE])
    return KnowledgeBase(tuple(entries), sources, ids, areas, fp)
