"""Telegram voice notes: normalise → split → synthesise (WAV) → encode (OGG/Opus) → cache.

Telegram shows a voice note only for OGG/Opus, so every chunk of an answer is spoken to a
WAV by `speech.tts` and encoded with `opusenc --bitrate 24 --comp 5 --cvbr --downmix-mono`. The OGG files
are cached under `settings().data_dir / "speech-cache"`, named by the sha256 of
(normalised chunk, voice, rate), and written atomically (temporary file + os.replace), so a
cached file is always complete and the same chunk is never synthesised twice.

Measuring (for bench/): `stats` counts syntheses and cache hits and adds up the
characters synthesised and the seconds of synthesis and of encoding, not counting time
spent waiting for the engine lock or an encoder slot, so after `stats.reset()` and a cold
`voice_notes(text)` call, `stats.seconds_per_100_chars()` is the synthesis + encoding cost
per 100 characters; timing a second call of the same text measures cache hits
(`stats.cache_hits` goes up, `stats.synthesized` does not). `render_chunk(chunk, ogg)` does
one synthesis + encoding without the cache; `speech.tts.synthesize_timed` times synthesis
alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import threading
import time
import uuid
import wave
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from common.config import settings

from . import engine as engines
from .normalize import to_speakable
from .tts import SpeechError, check_wav, clamp_rate, synthesize

log = logging.getLogger(__name__)

CACHE_DIRNAME = "speech-cache"
MAX_CHUNK_CHARS = 120
OPUS_BITRATE = 24
# Encoder complexity 5 with constrained VBR: a third of the CPU of the default (complexity
# 10) at the same 24 kbit/s (bench/speech_bench.py measured the variants).
OPUS_SPEED_OPTIONS = ["--comp", "5", "--cvbr"]
_SENTENCE_ENDS = "。！？；"


@dataclass
class SpeechStats:
    """Counters since the process started (or since `reset()`)."""

    synthesized: int = 0
    cache_hits: int = 0
    chars_synthesized: int = 0
    synth_seconds: float = 0.0
    encode_seconds: float = 0.0

    def reset(self) -> None:
        """Set every counter back to zero."""
        self.synthesized = self.cache_hits = self.chars_synthesized = 0
        self.synth_seconds = self.encode_seconds = 0.0

    def seconds_per_100_chars(self) -> float:
        """Synthesis + encoding time per 100 characters, over what was synthesised."""
        if not self.chars_synthesized:
            return 0.0
        return (self.synth_seconds + self.encode_seconds) * 100 / self.chars_synthesized


stats = SpeechStats()
_stats_lock = threading.Lock()
# striped locks: two requests for the same chunk wait for one synthesis
_key_locks = [threading.Lock() for _ in range(64)]
# opusenc is the slow, CPU-bound step: run at most one per core at a time
_encode_slots = threading.BoundedSemaphore(max(1, os.cpu_count() or 1))


# --------------------------------------------------------------------------- splitting


def _pack(pieces: Iterable[str], limit: int) -> list[str]:
    """Consecutive pieces joined while they fit in `limit` characters (a longer piece stays alone)."""
    out: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) > limit:
            out.append(current)
            current = ""
        current += piece
    if current:
        out.append(current)
    return out


def _split_long(sentence: str, limit: int) -> list[str]:
    """Cut one over-long sentence at commas, then hard at `limit` characters."""
    parts = [p for p in re.findall(r"[^，、：]+[，、：]?", sentence) if p]
    return _pack((part[i : i + limit] for part in parts for i in range(0, len(part), limit)), limit)


def split_chunks(text: str, limit: int = MAX_CHUNK_CHARS) -> list[str]:
    """Split speakable text at sentence ends (。！？；, newlines) into chunks ≤ `limit`.

    A line that ends without punctuation gets a 。 so the voice pauses there.
    """
    sentences: list[str] = []
    for line in text.split("\n"):
        line = line.strip()
        if not line:
            continue
        if line[-1] not in _SENTENCE_ENDS:
            line += "。"
        sentences.extend(s.strip() for s in re.findall(rf"[^{_SENTENCE_ENDS}]+[{_SENTENCE_ENDS}]*", line))
    pieces = (
        piece
        for sentence in sentences
        if sentence
        for piece in ([sentence] if len(sentence) <= limit else _split_long(sentence, limit))
    )
    return _pack(pieces, limit)


# --------------------------------------------------------------------------- cache


def cache_key(chunk: str, voice: str, rate: int) -> str:
    """sha256 of (normalised chunk, voice, rate)."""
    payload = json.dumps([chunk, voice, int(rate), OPUS_BITRATE, OPUS_SPEED_OPTIONS], ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def cache_dir() -> Path:
    """Where voice notes are cached: settings().data_dir / "speech-cache"."""
    return settings().data_dir / CACHE_DIRNAME


def cache_path(chunk: str, voice: str, rate: int) -> Path:
    """The cache file for one chunk (it may not exist yet)."""
    return cache_dir() / f"{cache_key(chunk, voice, rate)}.ogg"


def _is_complete_ogg(path: Path) -> bool:
    try:
        with path.open("rb") as f:
            return f.read(4) == b"OggS"
    except OSError:
        return False


# --------------------------------------------------------------------------- encoding


def encode_opus(wav: Path, ogg: Path) -> Path:
    """Encode a WAV to OGG/Opus for Telegram, atomically; returns `ogg`."""
    _encode_opus(Path(wav), Path(ogg))
    return Path(ogg)


def _encode_opus(wav: Path, ogg: Path) -> float:
    """Encode with `opusenc --bitrate 24 --comp 5 --cvbr --downmix-mono`; returns seconds spent.

    At most one opusenc per core runs at a time; waiting for a slot is not counted.
    """
    exe = shutil.which("opusenc")
    if exe is None:
        raise SpeechError("opusenc not found (install the opus-tools package)")
    ogg.parent.mkdir(parents=True, exist_ok=True)
    tmp = ogg.with_name(f".{ogg.stem[:40]}.{uuid.uuid4().hex[:12]}.tmp.ogg")
    cmd = [exe, "--bitrate", str(OPUS_BITRATE), *OPUS_SPEED_OPTIONS, "--downmix-mono", "--quiet"]
    try:
        with _encode_slots:
            start = time.perf_counter()
            proc = subprocess.run(
                [*cmd, str(wav), str(tmp)],
                capture_output=True,
                timeout=300,
                check=False,
                stdin=subprocess.DEVNULL,
            )
            spent = time.perf_counter() - start
        if proc.returncode != 0 or not _is_complete_ogg(tmp):
            err = proc.stderr.decode("utf-8", "replace").strip()
            raise SpeechError(f"opusenc exited with {proc.returncode}: {err}")
        os.replace(tmp, ogg)
    except subprocess.TimeoutExpired as exc:
        raise SpeechError("opusenc did not finish in time") from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    return spent


def render_chunk(chunk: str, ogg: Path, *, voice: str | None = None, rate: int | None = None) -> Path:
    """Synthesise one speakable chunk and encode it to `ogg`, without the cache.

    Adds to `stats` the seconds of synthesis and of encoding (not of waiting for the
    engine or an encoder slot), so `stats.seconds_per_100_chars()` is the cost of
    making speech, also when several chunks are made at once.
    """
    voice = voice or settings().tts_voice
    rate = clamp_rate(rate)
    ogg = Path(ogg)
    ogg.parent.mkdir(parents=True, exist_ok=True)
    wav = ogg.with_name(f".{ogg.stem[:40]}.{uuid.uuid4().hex[:12]}.wav")
    try:
        synth_s = engines.EspeakEngine(voice).synthesize(chunk, wav, rate=rate)
        encode_s = _encode_opus(wav, ogg)
    finally:
        with contextlib.suppress(FileNotFoundError):
            wav.unlink()
    with _stats_lock:
        stats.synthesized += 1
        stats.chars_synthesized += len(chunk)
        stats.synth_seconds += synth_s
        stats.encode_seconds += encode_s
    return ogg


def voice_note_for_chunk(chunk: str, *, voice: str | None = None, rate: int | None = None) -> Path:
    """The cached OGG/Opus file for one speakable chunk, made if missing (blocking)."""
    voice = voice or settings().tts_voice
    rate = clamp_rate(rate)
    key = cache_key(chunk, voice, rate)
    path = cache_dir() / f"{key}.ogg"
    with _key_locks[int(key[:8], 16) % len(_key_locks)]:
        if _is_complete_ogg(path):
            with _stats_lock:
                stats.cache_hits += 1
            return path
        return render_chunk(chunk, path, voice=voice, rate=rate)


async def voice_notes(text: str, rate: int | None = None) -> list[Path]:
    """OGG/Opus voice notes speaking `text`, one per chunk of ≤ ~120 characters.

    Returns [] when nothing in `text` is speakable. Work runs in worker threads, so the
    event loop is never blocked; chunks already in the cache are not synthesised again.
    Raises SpeechError when speech cannot be made (the caller should send text only).
    """
    spoken = to_speakable(text)
    chunks = split_chunks(spoken)
    if not chunks:
        return []
    voice = settings().tts_voice
    rate = clamp_rate(rate)
    tasks = [asyncio.to_thread(voice_note_for_chunk, c, voice=voice, rate=rate) for c in chunks]
    return list(await asyncio.gather(*tasks))


# --------------------------------------------------------------------------- inspection


def _opusinfo_seconds(ogg: Path) -> float | None:
    exe = shutil.which("opusinfo")
    if exe is None:
        return None
    proc = subprocess.run([exe, str(ogg)], capture_output=True, timeout=30, check=False)
    found = re.search(
        r"Playback length:\s*(?:(\d+)h:)?(\d+)m:([\d.]+)s",
        proc.stdout.decode("utf-8", "replace"),
    )
    if proc.returncode != 0 or not found:
        return None
    hours, minutes, seconds = found.groups()
    return int(hours or 0) * 3600 + int(minutes) * 60 + float(seconds)


def decode_opus(ogg: Path, wav: Path) -> Path:
    """Decode OGG/Opus to a WAV with opusdec; returns `wav`."""
    exe = shutil.which("opusdec")
    if exe is None:
        raise SpeechError("opusdec not found (install the opus-tools package)")
    proc = subprocess.run(
        [exe, "--quiet", str(ogg), str(wav)],
        capture_output=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        raise SpeechError(f"opusdec exited with {proc.returncode}: {proc.stderr.decode('utf-8', 'replace').strip()}")
    return Path(wav)


def duration_seconds(ogg: Path) -> float:
    """Playback length of an OGG/Opus file (opusinfo, else decoding with opusdec)."""
    seconds = _opusinfo_seconds(Path(ogg))
    if seconds is not None:
        return seconds
    with tempfile.TemporaryDirectory(prefix="speech-") as tmp:
        wav = decode_opus(Path(ogg), Path(tmp) / "decoded.wav")
        with wave.open(str(wav), "rb") as w:
            return w.getnframes() / w.getframerate()


# --------------------------------------------------------------------------- local playback


def _alsa_has_card() -> bool:
    try:
        cards = Path("/proc/asound/cards").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return bool(re.search(r"^\s*\d+\s*\[", cards, flags=re.MULTILINE))


def _pulse_running() -> bool:
    pactl = shutil.which("pactl")
    if pactl is None:
        runtime = os.environ.get("XDG_RUNTIME_DIR", "")
        return bool(os.environ.get("PULSE_SERVER")) or (bool(runtime) and Path(runtime, "pulse", "native").exists())
    try:
        proc = subprocess.run([pactl, "info"], capture_output=True, timeout=3, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return proc.returncode == 0


def local_player() -> list[str] | None:
    """The command that plays a WAV on this machine's sound device, or None."""
    if shutil.which("paplay") and _pulse_running():
        return ["paplay"]
    if shutil.which("aplay") and _alsa_has_card():
        return ["aplay", "-q"]
    return None


def speak_local(text: str, rate: int | None = None) -> bool:
    """Say `text` on the local sound device; False (quietly) if there is none or it fails."""
    player = local_player()
    if player is None:
        return False
    spoken = to_speakable(text)
    if not spoken:
        return False
    with tempfile.TemporaryDirectory(prefix="speech-") as tmp:
        wav = Path(tmp) / "say.wav"
        try:
            info = check_wav(synthesize(spoken, wav, rate=rate))
            proc = subprocess.run(
                [*player, str(wav)],
                capture_output=True,
                timeout=info.duration + 30,
                check=False,
            )
        except (SpeechError, OSError, subprocess.TimeoutExpired) as exc:
            log.debug("speech: local playback failed: %s", exc)
            return False
    return proc.returncode == 0
