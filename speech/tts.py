"""Text to WAV with espeak-ng: pyttsx3's espeak driver in-process, else the espeak-ng CLI.

pyttsx3 2.99's espeak driver is easy to misuse (see shared/notes/toolchain.md):
`runAndWait()` returns before the WAV exists because espeak writes it from its own thread,
an engine garbage-collected mid-synthesis leaves a silently truncated file, and two
`save_to_file` calls before one `runAndWait` write only the last. So this module keeps ONE
engine for the whole process (module-level, created lazily), serialises every call with a
lock, queues one `save_to_file` per `runAndWait`, waits for the `finished-utterance`
callback (with a timeout) and `espeak_Synchronize()`, then checks the WAV's RIFF header
against the file's length before moving it into place. Voice and rate are set and then
`espeak_Synchronize()`d before `runAndWait`: otherwise the driver's stop() cancels the
still-queued rate change and the previous rate is used (see `_Pyttsx3Engine._apply`). A file that fails the check is
synthesised once more; a second failure raises `SpeechError`.

Nothing else in the process may create a pyttsx3 espeak engine: espeak has one synthesis
callback per process, and a second engine would take it over.

When pyttsx3 cannot be used (not installed, `libespeak-ng.so.1` missing, init fails),
the `espeak-ng` command line is run instead with the same voice and rate
(`espeak-ng -v VOICE -s RATE -w out.wav -- TEXT`); which one is used is logged once.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import struct
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from common.config import settings

log = logging.getLogger(__name__)

Backend = Literal["pyttsx3", "espeak-ng"]
PYTTSX3: Backend = "pyttsx3"
CLI: Backend = "espeak-ng"
MIN_RATE, MAX_RATE = 80, 450  # espeak-ng's accepted words-per-minute range


class SpeechError(RuntimeError):
    """Speech could not be produced."""


class IncompleteWavError(SpeechError):
    """A WAV file is missing, truncated, or has no audio frames."""


@dataclass(frozen=True)
class WavInfo:
    """What a complete WAV file holds."""

    channels: int
    sample_rate: int
    sample_width: int
    frames: int

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return self.frames / self.sample_rate


def check_wav(path: Path) -> WavInfo:
    """Return the WAV's format if it is complete, else raise IncompleteWavError.

    Complete means: a RIFF/WAVE header whose RIFF size matches the file's length, a `fmt `
    chunk, and a `data` chunk that lies inside the file and holds at least one frame.
    """
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                raise IncompleteWavError(f"{path}: not a RIFF/WAVE file")
            riff_size = struct.unpack("<I", head[4:8])[0]
            if riff_size + 8 not in (size, size - 1):
                raise IncompleteWavError(f"{path}: RIFF size {riff_size + 8} != file length {size}")
            fmt: tuple[int, int, int, int] | None = None
            data_size: int | None = None
            offset = 12
            while offset + 8 <= size:
                f.seek(offset)
                chunk_id, chunk_size = struct.unpack("<4sI", f.read(8))
                if chunk_id == b"fmt ":
                    raw = f.read(16)
                    if len(raw) < 16:
                        raise IncompleteWavError(f"{path}: short fmt chunk")
                    _tag, channels, rate, _bps, block_align, bits = struct.unpack("<HHIIHH", raw)
                    fmt = (channels, rate, bits // 8, block_align)
                elif chunk_id == b"data":
                    if offset + 8 + chunk_size > size:
                        raise IncompleteWavError(f"{path}: data chunk of {chunk_size} bytes runs past the end")
                    data_size = chunk_size
                offset += 8 + chunk_size + (chunk_size & 1)
    except OSError as exc:
        raise IncompleteWavError(f"{path}: {exc}") from exc
    if fmt is None or data_size is None:
        raise IncompleteWavError(f"{path}: no fmt or data chunk")
    channels, rate, width, block_align = fmt
    frames = data_size // max(block_align, 1)
    if frames <= 0 or rate <= 0:
        raise IncompleteWavError(f"{path}: no audio frames")
    return WavInfo(channels=channels, sample_rate=rate, sample_width=width, frames=frames)


# --------------------------------------------------------------------------- pyttsx3


def _driver_print(*args: object, **_: object) -> None:
    log.debug("pyttsx3: %s", " ".join(str(a) for a in args))


class _Pyttsx3Engine:
    """The one pyttsx3 engine of this process and its completion callback."""

    def __init__(self) -> None:
        import pyttsx3
        from pyttsx3.drivers import _espeak

        self._espeak = _espeak
        self.engine = pyttsx3.init("espeak")
        # the driver print()s "Audio saved to …" for every file: send that to the log
        driver_module = sys.modules.get("pyttsx3.drivers.espeak")
        if driver_module is not None:
            driver_module.print = _driver_print  # type: ignore[attr-defined]
        self._done = threading.Event()
        self._errors: list[BaseException] = []
        self.engine.connect("finished-utterance", self._on_finished)
        self.engine.connect("error", self._on_error)
        self.voices = {v.id.lower() for v in self.engine.getProperty("voices")}
        # A new proxy is "busy" and would queue setProperty until the next runAndWait;
        # one empty run leaves it idle so properties are applied when they are set.
        self.engine.runAndWait()

    def _on_finished(self, **_: Any) -> None:
        self._done.set()

    def _on_error(self, exception: BaseException | None = None, **_: Any) -> None:
        self._errors.append(exception or SpeechError("pyttsx3 reported an error"))

    def _apply(self, voice: str, rate: int) -> None:
        """Set voice and rate and let espeak apply them before synthesis starts.

        In espeak's asynchronous mode a rate change is only queued; runAndWait's stop()
        then sees espeak busy and calls espeak_Cancel(), which throws the change away
        (the previous rate is used) and can even leave an empty WAV. Synchronize() first
        lets the change land, so stop() finds espeak idle and cancels nothing.
        """
        for _ in range(2):
            self.engine.setProperty("voice", voice)
            self.engine.setProperty("rate", rate)
            self._espeak.Synchronize()
            if self.engine.getProperty("rate") == rate:
                return
        raise SpeechError(f"espeak did not accept rate {rate}")

    def synth(self, text: str, out: Path, voice: str, rate: int, timeout: float) -> None:
        """Write `text` to `out` (caller holds the lock); returns when espeak is done."""
        if voice.lower() not in self.voices:
            raise SpeechError(f"espeak voice {voice!r} is not installed")
        self._done.clear()
        self._errors.clear()
        self._apply(voice, rate)
        self.engine.save_to_file(text, str(out))  # exactly one per runAndWait
        self.engine.runAndWait()  # returns once synthesis has *started*
        finished = self._done.wait(timeout)
        if not finished:
            self._espeak.Cancel()
        self._espeak.Synchronize()  # the callback that writes the file has returned
        if self._errors:
            raise SpeechError(f"pyttsx3 failed: {self._errors[0]!r}")
        if not finished:
            raise SpeechError(f"pyttsx3 did not finish within {timeout:.0f} s")


_lock = threading.Lock()
_engine: _Pyttsx3Engine | None = None
_engine_error: str | None = None
_announced: set[str] = set()


def _pyttsx3_engine() -> _Pyttsx3Engine | None:
    """The process's engine, created on first use; None if pyttsx3 cannot be used here."""
    global _engine, _engine_error
    if _engine is None and _engine_error is None:
        try:
            _engine = _Pyttsx3Engine()
        except Exception as exc:  # any failure means: use the CLI
            _engine_error = f"{type(exc).__name__}: {exc}"
    return _engine


def _announce(backend: Backend, voice: str, *, forced: bool = False) -> None:
    """Log, once per process and backend, which synthesiser is used."""
    if backend in _announced:
        return
    _announced.add(backend)
    if backend == PYTTSX3:
        log.info("speech: synthesising with pyttsx3 (espeak driver), voice %s", voice)
    elif forced:
        log.info("speech: synthesising with the espeak-ng command line, voice %s", voice)
    else:
        log.warning(
            "speech: pyttsx3 cannot be used here (%s); falling back to the espeak-ng command line, voice %s",
            _engine_error,
            voice,
        )


def active_backend() -> Backend:
    """Which synthesiser `synthesize(..., backend=None)` uses on this machine."""
    with _lock:
        return PYTTSX3 if _pyttsx3_engine() is not None else CLI


# --------------------------------------------------------------------------- CLI


def _synth_cli(text: str, out: Path, voice: str, rate: int, timeout: float) -> None:
    """Run `espeak-ng -v VOICE -s RATE -w OUT -- TEXT`.

    espeak-ng keeps the -w path in a 200-byte buffer and silently cuts longer paths
    (writing elsewhere and exiting 0), so it is run in OUT's folder with the bare name.
    """
    exe = shutil.which("espeak-ng")
    if exe is None:
        raise SpeechError("neither pyttsx3 nor the espeak-ng command is available")
    if len(out.name.encode()) >= 200:
        raise SpeechError(f"file name too long for espeak-ng: {out.name}")
    cmd = [exe, "-v", voice, "-s", str(rate), "-w", out.name, "--", text]
    try:
        proc = subprocess.run(
            cmd,
            cwd=out.parent,
            capture_output=True,
            timeout=timeout,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        raise SpeechError(f"espeak-ng did not finish within {timeout:.0f} s") from exc
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip()
        raise SpeechError(f"espeak-ng exited with {proc.returncode}: {err}")


# --------------------------------------------------------------------------- API


def clamp_rate(rate: int | None) -> int:
    """The rate to use: `rate`, else settings().tts_rate, kept in espeak's 80..450."""
    value = settings().tts_rate if rate is None else int(rate)
    return max(MIN_RATE, min(MAX_RATE, value))


def synthesize(
    text: str,
    out: Path,
    *,
    rate: int | None = None,
    voice: str | None = None,
    backend: Backend | None = None,
    timeout: float | None = None,
) -> Path:
    """Speak `text` into the WAV file `out` and return `out`, complete or not at all.

    `voice` defaults to settings().tts_voice, `rate` (espeak words per minute) to
    settings().tts_rate. `backend` None picks pyttsx3 when it works here, else the
    espeak-ng CLI; "pyttsx3" or "espeak-ng" forces one. The file is written under a
    temporary name, checked with `check_wav`, and renamed into place; an incomplete
    result is synthesised once more, then SpeechError is raised.
    """
    synthesize_timed(text, out, rate=rate, voice=voice, backend=backend, timeout=timeout)
    return Path(out)


def synthesize_timed(
    text: str,
    out: Path,
    *,
    rate: int | None = None,
    voice: str | None = None,
    backend: Backend | None = None,
    timeout: float | None = None,
) -> float:
    """Like `synthesize`, but return the seconds spent synthesising.

    The time waiting for another thread's synthesis (the engine lock) is not counted,
    so the figure is the cost of this text alone, also under concurrency.
    """
    if not text or not text.strip():
        raise ValueError("nothing to synthesise")
    out = Path(out)
    voice = voice or settings().tts_voice
    rate = clamp_rate(rate)
    timeout = timeout if timeout is not None else 15.0 + 0.05 * len(text)
    out.parent.mkdir(parents=True, exist_ok=True)

    last: SpeechError | None = None
    spent = 0.0
    for attempt in (1, 2):
        tmp = out.with_name(f".{out.stem[:40]}.{uuid.uuid4().hex[:12]}.tmp.wav")
        try:
            chosen, seconds = _synth_once(text, tmp, voice, rate, backend, timeout)
            spent += seconds
            check_wav(tmp)
            os.replace(tmp, out)
            log.debug("speech: %s wrote %s (%d chars)", chosen, out, len(text))
            return spent
        except SpeechError as exc:
            last = exc
            log.warning("speech: attempt %d for %d chars failed: %s", attempt, len(text), exc)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    raise SpeechError(f"could not synthesise a complete WAV for {len(text)} chars: {last}")


def _synth_once(
    text: str, tmp: Path, voice: str, rate: int, backend: Backend | None, timeout: float
) -> tuple[Backend, float]:
    """One attempt; returns the backend used and the seconds it worked."""
    if backend not in (None, PYTTSX3, CLI):
        raise ValueError(f"unknown speech backend {backend!r}")
    if backend != CLI:
        with _lock:
            start = time.perf_counter()
            engine = _pyttsx3_engine()
            if engine is not None:
                _announce(PYTTSX3, voice)
                try:
                    engine.synth(text, tmp, voice, rate, timeout)
                except SpeechError:
                    raise
                except Exception as exc:
                    raise SpeechError(f"pyttsx3 failed: {exc!r}") from exc
                return PYTTSX3, time.perf_counter() - start
        if backend == PYTTSX3:
            raise SpeechError(f"pyttsx3 cannot be used here: {_engine_error}")
    _announce(CLI, voice, forced=backend == CLI)
    start = time.perf_counter()
    _synth_cli(text, tmp, voice, rate, timeout)
    return CLI, time.perf_counter() - start
