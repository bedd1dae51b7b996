"""The spoken form of a reply, made for the ear (one place for every rule).

A reply is written for the screen: an answer, a `来源：` line of source titles, a
`下一步：` line, numbered menus (`1 长宁镇`), form summaries (`2 电话：139…`), links and
emoji. Read out as written it takes up to 86 s and the menus run together. Here a reply
becomes a `Plan`: pieces of speakable text, each followed by real silence:

- the answer lines and the next step, always (`Listener.shorter`: only the next step's
  first sentence, and no source; a detail the resident asked for is still said);
- the source said once and briefly, derived from the `来源` line's source names
  ("这是国家的规定，也是寻乌县规划里写的"; `Listener.sources` False: not at all); the whole
  list only on request (`full_sources(reply)`, "来源是哪里");
- a pause after each menu or summary digit ("1，…") and between the lines;
- phone numbers, ticket numbers (XW-7K3P9) and dates said in groups with pauses between;
- nothing that is only visual: links, e-mail addresses, emoji, Markdown (speech.normalize).

A knowledge answer has a form made for the ear: the entry's `spoken` text (one or two
short sentences, at most 60 characters). The action server sends it right after the
answer's text message as a custom message, `speech_payload(...)`:
`{"speech": "<entry.spoken>", "source_kind": "county"}`; `plan_for(text, payload)` then
says that text instead of the written answer and next step (the source still once and
briefly, after its first sentence; `Listener.shorter` leaves it out). Without a payload,
or with one that is not valid, the written reply is spoken as above. Send it with a first
answer only: a reply that carries the detail ("详细一点") is spoken as written.

`render(plan)` synthesises every piece with the engine (speech.engine) and joins them with
silence of the planned length into ONE OGG/Opus voice note, cached under
`<data>/speech-cache/` by the plan, the engine and the rate; `measure(plan)` gives the seconds
the same audio lasts without encoding it (speech.preview). `voice_note(text, listener,
speech=payload)` does both. `listener_request(text)` recognises what residents say about
the speech itself ("念短一点", "说慢点", "再念一遍", "来源不用念", "来源是哪里").
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import hashlib
import json
import re
import sys
import tempfile
import uuid
import wave
from dataclasses import asdict, dataclass, replace
from enum import Enum
from pathlib import Path
from typing import Any

from common.texts import say

from . import engine as engines
from .normalize import EMAIL_SPOKEN, URL_SPOKEN, digits_to_chinese, int_to_chinese, to_speakable
from .tts import MIN_RATE, SpeechError, check_wav, clamp_rate
from .voice_note import _encode_opus, cache_dir

# Silence, in seconds, after each kind of piece.
PAUSE_DIGIT = 0.35  # after the digit of a menu or summary line: "1，｜长宁镇"
PAUSE_ITEM = 0.6  # after a menu or summary line
PAUSE_GROUP = 0.3  # between the groups of a phone or ticket number, a date
PAUSE_LINE = 0.45  # after any other line
PAUSE_SECTION = 0.7  # between answer, source and next step
SLOWER_STEP = 30  # words per minute slower when the listener asked for it


# --------------------------------------------------------------------------- listener


class Request(Enum):
    """What a resident can ask about the speech itself."""

    SHORTER = "shorter"
    LONGER = "longer"
    SLOWER = "slower"
    FASTER = "faster"
    NO_SOURCES = "no_sources"
    SOURCES = "sources"
    FULL_SOURCES = "full_sources"
    REPEAT = "repeat"


@dataclass(frozen=True)
class Listener:
    """How one resident wants to hear answers (kept by the bridge, e.g. in user_data)."""

    shorter: bool = False
    slower: bool = False
    sources: bool = True

    def rate(self, base: int | None = None) -> int:
        """The speech rate to use: `base` (settings' TTS_RATE when None), slower on request."""
        rate = clamp_rate(base)
        return max(MIN_RATE, rate - SLOWER_STEP) if self.slower else rate

    def apply(self, request: Request) -> Listener:
        """The preferences after `request` (REPEAT and FULL_SOURCES change nothing)."""
        changes = {
            Request.SHORTER: {"shorter": True},
            Request.LONGER: {"shorter": False},
            Request.SLOWER: {"slower": True},
            Request.FASTER: {"slower": False},
            Request.NO_SOURCES: {"sources": False},
            Request.SOURCES: {"sources": True},
        }.get(request, {})
        return replace(self, **changes)

    def to_dict(self) -> dict[str, bool]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Listener:
        data = data or {}
        return cls(**{k: bool(data[k]) for k in ("shorter", "slower", "sources") if k in data})


# What residents say about the speech (their own words; tested in tests/speech/test_spoken.py).
_SPEECH_WORD = r"(?:念|读|说|讲|播|语音|声音)"
_ASK_WHERE = r"(?:是|在)?(?:哪|什么|啥)"
_DONT = r"(?:不用|不要|别|莫|甭|无需|没必要)"
_REQUEST_PATTERNS: list[tuple[Request, str]] = [
    (
        Request.FULL_SOURCES,
        rf"(?:来源|出处){_ASK_WHERE}|(?:哪|什么|啥)个?(?:来源|出处)|(?:念|读|说)(?:一下|一遍)?(?:全部|完整的?|所有的?)?来源",
    ),
    (Request.NO_SOURCES, rf"(?:来源|出处).{{0,3}}?{_DONT}|{_DONT}再?(?:念|读|说|讲)(?:那些)?(?:来源|出处)"),
    (Request.REPEAT, r"(?:再|重新|重)(?:念|读|说|讲|播|放)(?:一遍|一次|一下)?|重复|没听清|没听见|没听到|听不清"),
    (Request.SLOWER, rf"{_SPEECH_WORD}?(?:慢|缓)(?:一?点|些|一些)|太快|快了|说得?太快|语速.{{0,2}}慢"),
    (Request.FASTER, rf"{_SPEECH_WORD}?快(?:一?点|些|一些)|太慢了|语速.{{0,2}}快|正常速度"),
    (Request.SHORTER, rf"{_SPEECH_WORD}?(?:短|简单|简短|少)(?:一?点|些|一些)|太长|长了|别念那么多|只念(?:重点|回答)"),
    (Request.LONGER, rf"{_SPEECH_WORD}(?:完整|全|详细)|(?:念|读|说)全(?:部|了)?"),
]
_MAX_REQUEST_CHARS = 16


def listener_request(text: str) -> Request | None:
    """A request about the speech ("念短一点", "来源不用念" …), or None for anything else.

    Only short messages count, so a policy question that happens to contain "慢" or "短"
    ("办证要多久") is never taken for one.
    """
    t = re.sub(r"[\s，。！？、,.!?~…]+", "", text or "")
    if not t or len(t) > _MAX_REQUEST_CHARS:
        return None
    for request, pattern in _REQUEST_PATTERNS:
        if re.search(pattern, t):
            if request is Request.FULL_SOURCES and re.search(r"不用|不要|别", t):
                return Request.NO_SOURCES
            return request
    return None


# --------------------------------------------------------------------------- the plan


@dataclass(frozen=True)
class Piece:
    """Speakable text (already normalised) and the silence after it."""

    text: str
    pause: float = 0.0


Plan = list[Piece]

_SOURCE_LINE = re.compile(r"^\s*(?:来源|出处)\s*[：:]\s*(.+?)\s*$")
_NEXT_LINE = re.compile(r"^\s*下一步\s*[：:]\s*(.+?)\s*$")
_MENU_LINE = re.compile(r"^\s*([0-9０-９]{1,2})(?:\s+|\s*[.、．)）]\s*)(\S.*?)\s*$")


@dataclass(frozen=True)
class Reply:
    """A reply text taken apart: its lines, source names and next step."""

    lines: tuple[str, ...]
    sources: tuple[str, ...]
    next_step: str


def parse(text: str) -> Reply:
    """Split a reply into its body lines, the source names of its 来源 line, its next step."""
    lines: list[str] = []
    sources: list[str] = []
    next_step = ""
    for raw in (text or "").replace("\r", "").split("\n"):
        if not raw.strip():
            continue
        if m := _SOURCE_LINE.match(raw):
            sources.extend(s.strip() for s in re.split(r"[；;]", m.group(1)) if s.strip())
        elif m := _NEXT_LINE.match(raw):
            next_step = m.group(1)
        else:
            lines.append(raw.strip())
    return Reply(tuple(lines), tuple(dict.fromkeys(sources)), next_step)


def source_level(name: str) -> str:
    """Who a source is, for the ear: plan, national, jiangxi, ganzhou, elsewhere or news."""
    if name.startswith("规划") or "寻乌" in name and "非寻乌" not in name:
        return "plan"
    if re.search(r"非寻乌|地方|南安|上犹|宿松|南昌|县残联|县政府|市政府", name):
        return "elsewhere"
    if re.search(r"江西|赣府", name):
        return "jiangxi"
    if "赣州" in name:
        return "ganzhou"
    if re.search(r"报道|新闻|发布会|新华社|网[：:]|摘要", name):
        return "news"
    if re.search(r"国务院|国办|国发|中华人民共和国|国家|全国", name):
        return "national"
    return "news"


# The order in which levels are named when a reply has several.
_LEVEL_ORDER = ("plan", "national", "jiangxi", "ganzhou", "elsewhere", "news")


def brief_source(names: tuple[str, ...] | list[str]) -> str:
    """The source said once and briefly: "这是国家的规定，也是寻乌县规划里写的。" ("" if none)."""
    levels = {source_level(n) for n in names}
    ordered = [lv for lv in _LEVEL_ORDER if lv in levels]
    if not ordered:
        return ""
    whos = [say(f"utter_spoken_who_{lv}") for lv in ordered[:2]]
    if len(whos) == 1:
        return say("utter_spoken_source_one", first=whos[0])
    return say("utter_spoken_source_two", first=whos[0], second=whos[1])


def _first_sentence(text: str) -> str:
    m = re.match(r"(.+?[。！？；])", text)
    return m.group(1) if m else text


def _ticket_groups(code: str) -> list[str]:
    """XW-7K3P9 → ["X、W", "七、K、三", "P、九"]."""
    prefix, _, rest = code.upper().partition("-")
    groups = [prefix] + ([rest[:3], rest[3:]] if len(rest) > 3 else [rest])
    return ["、".join(digits_to_chinese(c) if c.isdigit() else c for c in g) for g in groups if g]


def _phone_groups(raw: str) -> list[str]:
    digits = re.sub(r"\D", "", raw)
    if len(digits) == 11 and digits.startswith("1"):
        groups = [digits[:3], digits[3:7], digits[7:]]
    elif digits.startswith("0") and len(digits) >= 10:
        area = 4 if digits[:4] in ("0797",) or len(digits) == 12 else 3
        local = digits[area:]
        groups = [digits[:area], local[: len(local) - 4], local[-4:]]
    else:
        groups = [digits]
    return [digits_to_chinese(g) for g in groups if g]


def _date_groups(m: re.Match[str]) -> list[str]:
    year, month, day = m.group("year"), m.group("month"), m.group("day")
    out = [digits_to_chinese(year, yao=False) + "年"]
    tail = int_to_chinese(int(month)) + "月" + (int_to_chinese(int(day)) + "日" if day else "")
    return [*out, tail]


_GROUPED = re.compile(
    r"(?P<ticket>(?<![A-Za-z0-9])XW-[A-Za-z0-9]{5}(?![A-Za-z0-9]))"
    r"|(?P<phone>(?<![\d.])(?:1[3-9]\d{9}|0\d{2,3}[\s\-]?\d{7,8})(?![\d.]))"
    r"|(?P<date>(?<!\d)(?P<year>(?:19|20)\d{2})\s*年\s*(?P<month>\d{1,2})\s*月(?:\s*(?P<day>\d{1,2})\s*[日号])?)",
    re.IGNORECASE,
)


# A document number is for reading, not for the ear (the brief source says whose rule it
# is): "国家在国发〔2015〕52号文件里" → "国家在文件里"; "（国办发〔2021〕60号）" goes.
_ISSUER = r"(?:国办发|国办函|国发|国函|赣府厅字|赣府厅发|赣府发|赣府字|赣残联字|赣残联发)"
_DOC_NUMBER = re.compile(rf"[（(][^（）()]*〔\d{{4}}〕\d+号[^（）()]*[）)]|{_ISSUER}〔\d{{4}}〕\d+号")


def _for_the_ear(raw: str) -> str:
    return _DOC_NUMBER.sub("", raw)


def _speakable(raw: str) -> str:
    """to_speakable, without its "网址见文字消息": a link is only visual."""
    text = to_speakable(raw)
    if URL_SPOKEN in text or EMAIL_SPOKEN in text:
        text = to_speakable(text.replace(URL_SPOKEN, "").replace(EMAIL_SPOKEN, ""))
    return text


def _pieces(raw: str, pause: float, *, ear: bool = True) -> Plan:
    """One written line → pieces: grouped numbers split off with short pauses."""
    raw = _for_the_ear(raw) if ear else raw
    out: Plan = []
    pos = 0
    for m in _GROUPED.finditer(raw):
        written = raw[pos : m.start()]
        before = _speakable(written)
        if before:
            out.append(Piece(before, PAUSE_GROUP if re.search(r"[：:]\s*$", written) else 0.0))
        if m.group("ticket"):
            groups = _ticket_groups(m.group("ticket"))
        elif m.group("phone"):
            groups = _phone_groups(m.group("phone"))
        else:
            groups = _date_groups(m)
        out.extend(Piece(g, PAUSE_GROUP) for g in groups)
        pos = m.end()
    rest = _speakable(raw[pos:])
    if rest:
        out.append(Piece(rest, 0.0))
    if out:
        out[-1] = Piece(out[-1].text, max(out[-1].pause, pause))
    return out


def _line(raw: str, *, ear: bool = True) -> Plan:
    """A body line; menu and summary lines get a pause after their digit."""
    if m := _MENU_LINE.match(raw):
        digit = int(m.group(1).translate(str.maketrans("０１２３４５６７８９", "0123456789")))
        label = _pieces(m.group(2), PAUSE_ITEM, ear=ear)
        if label:
            return [Piece(int_to_chinese(digit), PAUSE_DIGIT), *label]
    return _pieces(raw, PAUSE_LINE, ear=ear)


def _end_section(plan: Plan) -> None:
    if plan:
        plan[-1] = Piece(plan[-1].text, max(plan[-1].pause, PAUSE_SECTION))


def plan(text: str, listener: Listener | None = None) -> Plan:
    """What will be said for a reply text, piece by piece (empty when nothing is speakable)."""
    listener = listener or Listener()
    reply = parse(text)
    out: Plan = []
    for raw in reply.lines:
        out.extend(_line(raw))
    _end_section(out)
    if reply.sources and listener.sources and not listener.shorter:
        brief = brief_source(reply.sources)
        if brief:
            out.append(Piece(brief, PAUSE_SECTION))
    if reply.next_step:
        step = _first_sentence(reply.next_step) if listener.shorter else reply.next_step
        out.extend(_pieces("下一步：" + step, PAUSE_LINE))
    if out:
        out[-1] = Piece(out[-1].text, 0.0)
    return out


# --------------------------------------------------------------------------- spoken answers

# The payload's source_kind names a level as the action server does ("county" for the
# county's plan); the levels above use "plan" for it.
_KIND_OF_LEVEL = {"plan": "county"}
_LEVEL_OF_KIND = {"county": "plan", **{lv: lv for lv in _LEVEL_ORDER}}
_SENTENCE = re.compile(r".+?(?:[。！？]|$)")


def source_kind(names: tuple[str, ...] | list[str]) -> str:
    """The first level of a reply's sources, as the payload names it: county, national,
    jiangxi, ganzhou, elsewhere, news ("" when there are none)."""
    levels = {source_level(n) for n in names}
    first = next((lv for lv in _LEVEL_ORDER if lv in levels), "")
    return _KIND_OF_LEVEL.get(first, first)


def speech_payload(spoken: str, source_names: tuple[str, ...] | list[str]) -> dict[str, str]:
    """The custom message that follows an answer's text: its spoken form and source kind."""
    return {"speech": spoken, "source_kind": source_kind(source_names)}


@dataclass(frozen=True)
class Speech:
    """A valid speech payload: the text to say, and the level of its sources."""

    text: str
    source_kind: str = ""

    @classmethod
    def from_payload(cls, payload: object) -> Speech | None:
        """The payload's speech, or None when it is absent or not a usable one."""
        if not isinstance(payload, dict):
            return None
        text, kind = payload.get("speech"), payload.get("source_kind")
        if not isinstance(text, str) or not text.strip():
            return None
        return cls(text.strip(), kind if isinstance(kind, str) and kind in _LEVEL_OF_KIND else "")


def _brief_of_kind(kind: str) -> str:
    level = _LEVEL_OF_KIND.get(kind)
    return say("utter_spoken_source_one", first=say(f"utter_spoken_who_{level}")) if level else ""


def plan_for(text: str, speech: object = None, listener: Listener | None = None) -> Plan:
    """What will be said for a reply text and the speech payload that may follow it.

    With a valid payload (`speech_payload`) its text is said instead of the written
    answer and next step: its first sentence, the source once and briefly (from the
    reply's 来源 line as in `plan`, else from the payload's source_kind), the rest.
    `Listener.shorter` and `Listener.sources` False leave the source out. Without one,
    this is `plan(text, listener)`.
    """
    spoken = Speech.from_payload(speech)
    if spoken is None:
        return plan(text, listener)
    listener = listener or Listener()
    names = parse(text).sources
    sentences = [m.group(0).strip() for m in _SENTENCE.finditer(spoken.text) if m.group(0).strip()]
    out: Plan = _pieces(sentences[0], PAUSE_LINE) if sentences else []
    _end_section(out)
    if listener.sources and not listener.shorter:
        brief = brief_source(names) if names else _brief_of_kind(spoken.source_kind)
        if brief:
            out.append(Piece(brief, PAUSE_SECTION))
    for sentence in sentences[1:]:
        out.extend(_pieces(sentence, PAUSE_LINE))
    if out:
        out[-1] = Piece(out[-1].text, 0.0)
    return out


def full_sources(text: str) -> Plan:
    """The whole source list of a reply, one numbered item at a time ("来源是哪里")."""
    names = parse(text).sources
    if not names:
        return [Piece(to_speakable(say("utter_spoken_no_sources")))]
    out: Plan = [Piece(to_speakable(say("utter_spoken_sources_full", count=len(names))), PAUSE_LINE)]
    for i, name in enumerate(names, 1):
        out.extend(_line(f"{i} {name}", ear=False))
    out[-1] = Piece(out[-1].text, 0.0)
    return out


def spoken_text(pieces: Plan) -> str:
    """A plan as text, pauses shown as ｜ (for staff, previews and tests)."""
    out = []
    for p in pieces:
        out.append(p.text + (" ｜ " if p.pause > 0 else ""))
    return "".join(out).strip()


def read_back(transcript: str) -> str:
    """The text of the read-back of a transcript: "我听到的是：……。对吗？\\n1 对\\n2 不对"."""
    heard = re.sub(r"[，。？！、,.?!\s]+$", "", transcript or "")
    return say("utter_asr_read_back", text=heard)


# --------------------------------------------------------------------------- audio


def _wav_frames(path: Path) -> tuple[bytes, int]:
    check_wav(path)
    with wave.open(str(path), "rb") as w:
        if w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SpeechError(f"{path}: expected mono 16-bit audio from the engine")
        return w.readframes(w.getnframes()), w.getframerate()


def _trim_silence(frames: bytes, rate: int, threshold: int = 200, keep: float = 0.03) -> bytes:
    """Cut the engine's own leading and trailing silence, so planned pauses are what is heard."""
    samples = array.array("h", frames)
    if sys.byteorder == "big":
        samples.byteswap()
    loud = [i for i in range(0, len(samples), 64) if abs(samples[i]) > threshold]
    if not loud:
        return frames
    pad = int(keep * rate)
    start, end = max(0, loud[0] - pad), min(len(samples), loud[-1] + 64 + pad)
    return frames[start * 2 : end * 2]


@dataclass(frozen=True)
class Rendered:
    """One voice note for a plan."""

    path: Path
    seconds: float
    cached: bool


def plan_key(pieces: Plan, engine_name: str, rate: int) -> str:
    payload = json.dumps([[p.text, p.pause] for p in pieces] + [engine_name, rate, "spoken-v1"], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def _joined(pieces: Plan, voice: Any, rate: int, tmp_dir: Path, stem: str) -> tuple[bytes, int]:
    """The pieces synthesised one by one (WAVs in `tmp_dir`, removed again), each with the
    engine's own silence trimmed and its planned pause after it: 16-bit mono PCM, sample rate."""
    parts: list[bytes] = []
    sample_rate = 0
    made: list[Path] = []
    try:
        for i, piece in enumerate(pieces):
            wav = tmp_dir / f"{stem}.{i}.wav"
            made.append(wav)
            voice.synthesize(piece.text, wav, rate=rate)
            frames, sr = _wav_frames(wav)
            if sample_rate and sr != sample_rate:
                raise SpeechError("the engine changed its sample rate between pieces")
            sample_rate = sr
            parts.append(_trim_silence(frames, sr))
            if piece.pause > 0:
                parts.append(b"\x00\x00" * int(piece.pause * sr))
    finally:
        for path in made:
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
    return b"".join(parts), sample_rate


def render(pieces: Plan, *, rate: int | None = None, out: Path | None = None) -> Rendered:
    """Synthesise the pieces, join them with their silences, encode ONE OGG/Opus voice note.

    Cached under <data>/speech-cache/ by plan, engine and rate unless `out` is given.
    Raises SpeechError (the caller sends text only) and ValueError for an empty plan.
    """
    if not pieces:
        raise ValueError("nothing to say")
    voice = engines.current()
    rate = clamp_rate(rate)
    key = plan_key(pieces, voice.name, rate)
    target = out or cache_dir() / f"spoken-{key}.ogg"
    meta = target.with_suffix(".json")
    if out is None and target.is_file() and meta.is_file():
        return Rendered(target, float(json.loads(meta.read_text())["seconds"]), cached=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    stem = f".{key[:16]}.{uuid.uuid4().hex[:8]}"
    audio, sample_rate = _joined(pieces, voice, rate, target.parent, stem)
    joined = target.parent / f"{stem}.joined.wav"
    try:
        with wave.open(str(joined), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(sample_rate)
            w.writeframes(audio)
        seconds = len(audio) / 2 / sample_rate
        _encode_opus(joined, target)
    finally:
        with contextlib.suppress(FileNotFoundError):
            joined.unlink()
    if out is None:
        meta.write_text(json.dumps({"seconds": round(seconds, 3)}), encoding="utf-8")
    return Rendered(target, seconds, cached=False)


def measure(pieces: Plan, *, rate: int | None = None) -> float:
    """The seconds `render` gives the pieces (synthesised with the same engine and rate, joined
    with the same silences), without encoding a voice note: what previews and benchmarks need."""
    if not pieces:
        raise ValueError("nothing to say")
    voice = engines.current()
    rate = clamp_rate(rate)
    with tempfile.TemporaryDirectory(prefix="speech-measure-") as tmp:
        audio, sample_rate = _joined(pieces, voice, rate, Path(tmp), "piece")
    return len(audio) / 2 / sample_rate


async def voice_note(
    text: str, listener: Listener | None = None, *, rate: int | None = None, speech: object = None
) -> Rendered | None:
    """The one voice note for a reply as this listener wants it (None if nothing to say).

    `speech` is the payload that followed the reply's text, if any (`plan_for`). `rate` is
    the person's base rate (settings' TTS_RATE when None); the listener may slow it. Runs
    in a worker thread. Raises SpeechError when speech cannot be made.
    """
    listener = listener or Listener()
    pieces = plan_for(text, speech, listener)
    if not pieces:
        return None
    return await asyncio.to_thread(render, pieces, rate=listener.rate(rate))


async def voice_note_for(pieces: Plan, *, rate: int | None = None) -> Rendered | None:
    """Like `voice_note`, for a plan already made (e.g. `full_sources(last_reply)`)."""
    if not pieces:
        return None
    return await asyncio.to_thread(render, pieces, rate=clamp_rate(rate))
