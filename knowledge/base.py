"""The knowledge base: entries written in residents' words, each tied to a recorded source.

`knowledge/entries/*.yml` holds the entries, `knowledge/sources/sources.yml` the sources,
`knowledge/ids.yml` the 44 IDs. `load()` reads and checks them all; everything else
(NLU training data, retrieval, answers, reports) is derived from what it returns.
`knowledge/emergency.yml` holds the sourced lines the urgent reply may say (`load_emergency()`).

What `load()` refuses (training and the tests stop with a message naming the file and
the entry or source): an unknown ID or source, a missing field, a duplicated key or
example, a source label that names no section of its source, a fact-sheet excerpt that
is not a verbatim fragment of a non-third-party item, an amount without its year and
hedge, a missing `spoken` text (the answer for the ear) or one longer than
SPOKEN_MAX_CHARS. `knowledge/truth.py` adds the checks on what the texts say (figures,
periods, next steps, spoken texts).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlparse

from common import yamlfile

HERE = Path(__file__).resolve().parent
ENTRIES_DIR = HERE / "entries"
SOURCES_FILE = HERE / "sources" / "sources.yml"
PLAN_FILE = HERE / "sources" / "xunwu-plan-summary.txt"
IDS_FILE = HERE / "ids.yml"
AREAS_FILE = HERE / "areas.yml"
EMERGENCY_FILE = HERE / "emergency.yml"
# The shared inputs (spec, fact sheet) beside the repository, as CI and developers have them.
ROOT_SHARED = Path(os.environ.get("XUNWU_SHARED_DIR", HERE.parent.parent / "shared"))
FACT_SHEET = ROOT_SHARED / "reference" / "policy-facts.md"

ALLOWED_KINDS = ("规划", "官方", "官方转载", "媒体")
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9-]*$")
MONEY_RE = re.compile(r"\d+(?:\.\d+)?\s*(?:元|万元)")
COUNTY_CAVEAT = "以县里当年公布为准"
# The spoken form of an answer (what a blind resident hears first): at most this many characters.
SPOKEN_MAX_CHARS = 60
# A sentence with an amount that names the national level ("国家规定…6000元") needs no county hedge.
NATIONAL_MARKERS = ("国家", "全国")
SENTENCE_RE = re.compile(r"[^。！？；\n]+[。！？；]?")
# What the plan summary calls itself in a 来源 line.
PLAN_LABEL = "寻乌县规划解读"
PLAN_HEADING_RE = re.compile(r"^([一二三四五六七八九十]+)、(.+)$")
PLAN_SUB_RE = re.compile(r"^（([一二三四五六七八九十]+)）")
# A label may name an article, chapter or part of its source ("第四十二条"): it must be in the excerpts.
LABEL_PART_RE = re.compile(r"第[一二三四五六七八九十百零\d]+(?:条|章|部分|节)")
# 官方 means a government or disabled persons' federation (残联, "…dpf.org.cn") site.
OFFICIAL_HOST_SUFFIXES = (".gov.cn", "dpf.org.cn")
FACT_TAG_RE = re.compile(r"【([^】]+)】")


class KnowledgeError(ValueError):
    """The knowledge files break a rule; the message says which file and entry."""


@dataclass(frozen=True)
class Source:
    """Where a fact comes from.

    Three origins: the plan summary (`kind` 规划), an item of the project's fact sheet, or
    a page found with the search tool (`read` is the day it was read; `publisher` says
    who published it). `level` says whose rule it is (国家, 江西省, another county…);
    `period` is the years a plan or programme covers ("2021—2025").
    """

    key: str
    kind: str
    cite: str
    excerpts: tuple[str, ...]
    url: str = ""
    as_of: str = ""
    publisher: str = ""
    level: str = ""
    period: str = ""
    read: str = ""
    section: str = ""

    @property
    def found(self) -> bool:
        """A page found with the search tool (not in the shared fact sheet)."""
        return bool(self.read)


@dataclass(frozen=True)
class Entry:
    """One answer the assistant can give, with the questions it answers.

    `spoken` is the same answer made for the ear: what the person gets or must do and the
    next step in one or two short sentences (at most SPOKEN_MAX_CHARS characters), said
    instead of `answer` and `next_step` when the reply is read out.
    """

    key: str
    id: str
    title: str
    answer: str
    next_step: str
    sources: tuple[Source, ...]
    examples: tuple[str, ...]
    topics: tuple[str, ...] = ()
    detail: str = ""
    spoken: str = ""
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
        """Every text an answer built from this entry can say (written and spoken)."""
        return tuple(t for t in (self.answer, self.detail, self.next_step, self.spoken) if t)


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


def plan_sections() -> list[tuple[str, str]]:
    """(heading name, sub-ordinal) for each line of the plan summary: the name of the
    section the line is in as the summary names it ("背景", "主要举措"…), and the ordinal
    of its subsection ("一" for a line starting with "（一）", "" otherwise)."""
    out: list[tuple[str, str]] = []
    name = ""
    for raw in PLAN_FILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        heading = PLAN_HEADING_RE.match(line)
        if heading:
            name = heading.group(2).replace("《规划》", "").strip()
        sub = PLAN_SUB_RE.match(line)
        out.append((name, sub.group(1) if sub else ""))
    return out


def _plan_paragraph(locate: str, through: str | None) -> tuple[str, str]:
    """The paragraph of the plan summary that starts with `locate` (up to `through`), and
    the summary's own name of its section ("主要举措（一）")."""
    lines = [ln.strip() for ln in PLAN_FILE.read_text(encoding="utf-8").splitlines()]
    sections = plan_sections()
    for i, line in enumerate(lines):
        if line.startswith(locate):
            name, sub = sections[i]
            section = f"{name}（{sub}）" if sub else name
            if not through:
                return line, section
            out = [line]
            for nxt in lines[i + 1 :]:
                out.append(nxt)
                if nxt.startswith(through):
                    return "\n".join(out), section
    raise KnowledgeError(f"sources.yml: no paragraph of the plan summary starts with {locate!r}")


def label_problems(source: Source) -> list[str]:
    """A 来源 label must name a real section of its source.

    A plan-summary label names the summary and the section the paragraph is in, as the
    summary names it ("寻乌县规划解读“主要举措（一）”"); it may not number the summary's
    sections as "第X部分" (the plan itself has four parts, which the summary names
    differently). Any other label that names an article, chapter or part ("第四十二条")
    must find it in its excerpts.
    """
    where = f"source {source.key}"
    parts = LABEL_PART_RE.findall(source.cite)
    if source.kind == "规划":
        problems = []
        if PLAN_LABEL not in source.cite or (source.section and source.section not in source.cite):
            problems.append(f"{where}: label {source.cite!r} does not name its section {PLAN_LABEL}“{source.section}”")
        if parts:
            problems.append(f"{where}: label {source.cite!r} numbers a part the summary does not have: {parts}")
        return problems
    text = "".join("".join(x.split()) for x in source.excerpts)
    return [f"{where}: label names {p!r}, which its excerpts do not contain" for p in parts if p not in text]


def _official_host(url: str) -> bool:
    host = (urlparse(url).hostname or "").lower()
    return any(host == s.lstrip(".") or host.endswith(s) for s in OFFICIAL_HOST_SUFFIXES)


def _plain(text: str) -> str:
    return "".join(text.replace("**", "").split())


def third_party_urls(fact_sheet: Path) -> set[str]:
    """Every address the fact sheet gives on a line tagged 【第三方】 (never a source)."""
    urls: set[str] = set()
    for line in fact_sheet.read_text(encoding="utf-8").splitlines():
        if any("第三方" in t for t in FACT_TAG_RE.findall(line)):
            urls.update(re.findall(r"https?://[^\s）)，,]+", line))
    return urls


def source_problems(source: Source, fact_sheet: Path | None = None) -> list[str]:
    """What is wrong with a source: its label, and where its excerpts come from.

    A fact-sheet source quotes an item of the fact sheet verbatim, an item tagged with its
    kind and never 【第三方】. A page found with the search tool needs its address, its
    publisher and the day it was read; 官方 means a government or 残联 site; a page the
    fact sheet tags 【第三方】 is refused. (Found pages have no stored copy here: their
    excerpts are recorded as the search tool returned them.)
    """
    problems = label_problems(source)
    if source.kind == "规划":
        return problems
    where = f"source {source.key}"
    sheet = fact_sheet if fact_sheet is not None else FACT_SHEET
    sheet_ok = sheet.is_file()
    if source.found:
        if not source.publisher:
            problems.append(f"{where}: a found page needs its publisher")
        if source.kind == "官方" and not _official_host(source.url):
            problems.append(f"{where}: kind 官方 but {urlparse(source.url).hostname} is not a government or 残联 site")
        if sheet_ok and source.url in third_party_urls(sheet):
            problems.append(f"{where}: the fact sheet tags this page 【第三方】")
        return problems
    if not sheet_ok:
        return problems
    sheet_text = sheet.read_text(encoding="utf-8")
    lines = sheet_text.splitlines()
    if source.url and source.url not in sheet_text:
        problems.append(f"{where}: url is not in the fact sheet")
    for excerpt in source.excerpts:
        want = _plain(excerpt)
        hits = [i for i, line in enumerate(lines) if want in _plain(line)]
        if not hits:
            problems.append(f"{where}: excerpt not found verbatim: {excerpt[:30]}…")
            continue
        tagged = hits[0]
        while tagged >= 0 and not FACT_TAG_RE.search(lines[tagged]):
            tagged -= 1
        tags = FACT_TAG_RE.findall(lines[tagged]) if tagged >= 0 else []
        if not tags or any("第三方" in t for t in tags):
            problems.append(f"{where}: excerpt comes from a 【第三方】 or untagged item")
        elif not any(source.kind in t or t in source.kind for t in tags):
            problems.append(f"{where}: kind {source.kind} but the item is tagged {tags}")
    return problems


def _load_sources() -> dict[str, Source]:
    raw = yamlfile.read(SOURCES_FILE) or {}
    out: dict[str, Source] = {}
    for key, spec in raw.items():
        kind = spec.get("kind", "")
        if kind not in ALLOWED_KINDS:
            raise KnowledgeError(f"sources.yml: {key}: kind {kind!r} is not one of {ALLOWED_KINDS}")
        section = ""
        if kind == "规划":
            paragraph, section = _plan_paragraph(spec["locate"], spec.get("through"))
            excerpts: tuple[str, ...] = (paragraph,)
        else:
            excerpts = tuple(_text(x) for x in spec.get("excerpts") or ())
            if not excerpts or not spec.get("url"):
                raise KnowledgeError(f"sources.yml: {key}: a source needs url and excerpts")
        if not spec.get("cite"):
            raise KnowledgeError(f"sources.yml: {key}: cite is missing")
        out[key] = Source(
            key=key,
            kind=kind,
            cite=spec["cite"],
            excerpts=excerpts,
            url=spec.get("url", ""),
            as_of=str(spec.get("as_of", "")),
            publisher=str(spec.get("publisher", "") or ""),
            level=str(spec.get("level", "") or ""),
            period=str(spec.get("period", "") or ""),
            read=str(spec.get("read", "") or ""),
            section=section,
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
    for required in ("title", "answer", "next_step", "spoken", "sources", "examples"):
        value = raw.get(required)
        if not value or (isinstance(value, str) and not _text(value)):
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
        spoken=_text(raw["spoken"]),
        sources=tuple(cited),
        examples=examples,
        topics=tuple(raw.get("topics") or ()),
        as_of=str(raw.get("as_of", "") or ""),
        file=file,
    )
    if len(entry.spoken) > SPOKEN_MAX_CHARS:
        raise KnowledgeError(
            f"{where}: spoken has {len(entry.spoken)} characters, at most {SPOKEN_MAX_CHARS} "
            "(it is what a blind resident hears: one or two short sentences)"
        )
    # The written reply and the spoken text are each heard or read on their own: an amount
    # in either carries its year (as_of) and, unless national, the hedge in that same form.
    written = tuple(t for t in (entry.answer, entry.detail, entry.next_step) if t)
    for form, texts in (("", written), ("spoken: ", (entry.spoken,))):
        amounts = [s for t in texts for s in SENTENCE_RE.findall(t) if MONEY_RE.search(s)]
        if not amounts:
            continue
        national = all(any(m in s for m in NATIONAL_MARKERS) for s in amounts)
        if not entry.as_of or not (COUNTY_CAVEAT in " ".join(texts) or national):
            raise KnowledgeError(
                f"{where}: {form}an amount needs as_of and the words {COUNTY_CAVEAT!r} "
                "(or, for a national figure, a sentence that says 国家 or 全国)"
            )
    return entry


def _fingerprint(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in sorted(paths):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def check_sources(entries: list[Entry] | tuple[Entry, ...], sources: dict[str, Source]) -> None:
    """Refuse a source with a problem (`source_problems`), naming the entries that cite it."""
    for source in sources.values():
        problems = source_problems(source)
        if problems:
            users = [f"{e.file}: {e.key}" for e in entries if source in e.sources] or ["no entry"]
            raise KnowledgeError(f"sources.yml: {'; '.join(problems)} (cited by {', '.join(users)})")


@lru_cache(maxsize=1)
def load() -> KnowledgeBase:
    """Read and check every knowledge file (cached for the life of the process)."""
    ids = yamlfile.read(IDS_FILE)
    areas = yamlfile.read(AREAS_FILE)
    sources = _load_sources()
    files = sorted(ENTRIES_DIR.glob("*.yml"))
    entries: list[Entry] = []
    for path in files:
        doc = yamlfile.read(path) or {}
        for raw in doc.get("entries") or []:
            entries.append(_entry(raw, path.name, sources, ids))
    keys = [e.key for e in entries]
    dupes = {k for k in keys if keys.count(k) > 1}
    if dupes:
        where = sorted({f"{e.file}: {e.key}" for e in entries if e.key in dupes})
        raise KnowledgeError(f"duplicate entry keys: {', '.join(where)}")
    check_sources(entries, sources)
    owner: dict[str, str] = {}
    for entry in entries:
        for example in entry.examples:
            if owner.setdefault(example, entry.key) != entry.key:
                raise KnowledgeError(f"example {example!r} is in both {owner[example]} and {entry.key}")
    fp = _fingerprint([*files, SOURCES_FILE, PLAN_FILE, IDS_FILE])
    return KnowledgeBase(tuple(entries), sources, ids, areas, fp)


EMERGENCY_MAX_CHARS = 25


@dataclass(frozen=True)
class EmergencyLine:
    """One sentence the urgent (danger) reply may say, and the source of its number."""

    key: str
    text: str
    source: Source


def _emergency_lines(raw: dict, sources: dict[str, Source]) -> tuple[EmergencyLine, ...]:
    lines: list[EmergencyLine] = []
    for item in raw.get("lines") or []:
        key, text, skey = item.get("key", ""), _text(item.get("text")), item.get("source", "")
        where = f"emergency.yml: {key or '?'}"
        if not KEY_RE.match(key):
            raise KnowledgeError(f"{where}: key must be lower-case letters, digits and '-'")
        if not text:
            raise KnowledgeError(f"{where}: text is missing")
        if len(text) > EMERGENCY_MAX_CHARS:
            raise KnowledgeError(f"{where}: {len(text)} characters, at most {EMERGENCY_MAX_CHARS}")
        if skey not in sources:
            raise KnowledgeError(f"{where}: unknown source {skey!r}")
        if sources[skey].kind == "规划":
            raise KnowledgeError(f"{where}: an emergency number needs an official or media source, not the plan")
        lines.append(EmergencyLine(key=key, text=text, source=sources[skey]))
    keys = [line.key for line in lines]
    dupes = sorted({k for k in keys if keys.count(k) > 1})
    if dupes:
        raise KnowledgeError(f"emergency.yml: duplicate keys: {dupes}")
    if not lines:
        raise KnowledgeError("emergency.yml: no lines")
    return tuple(lines)


@lru_cache(maxsize=1)
def load_emergency() -> tuple[EmergencyLine, ...]:
    """The urgent reply's lines (`knowledge/emergency.yml`), each checked: at most 25
    characters, a known non-plan source. `knowledge.truth` checks that every number in a
    line is in its source's excerpts; `make test` runs it, so a wrong number never ships."""
    raw = yamlfile.read(EMERGENCY_FILE) or {}
    return _emergency_lines(raw, load().sources)
