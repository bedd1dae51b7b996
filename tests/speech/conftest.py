"""Shared fixtures for the speech tests: a private data dir and audio measurements."""

from __future__ import annotations

import array
import asyncio
import math
import re
import shutil
import sys
import threading
import wave
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pytest

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")

# Plausible speaking time per Chinese character at the default rate (150 wpm).
MIN_S_PER_CHAR, MAX_S_PER_CHAR = 0.1, 0.6
# 16-bit RMS below this is silence; espeak speech measures in the thousands.
MIN_RMS = 300.0


@dataclass(frozen=True)
class Audio:
    """Duration and loudness of a decoded WAV."""

    seconds: float
    rms: float


def measure_wav(path: Path) -> Audio:
    """Duration and RMS of a 16-bit PCM WAV, read with the wave and array modules."""
    with wave.open(str(path), "rb") as w:
        assert w.getsampwidth() == 2, "expected 16-bit PCM"
        frames = w.getnframes()
        samples = array.array("h", w.readframes(frames))
        seconds = frames / w.getframerate()
    if sys.byteorder == "big":
        samples.byteswap()
    rms = math.sqrt(sum(s * s for s in samples) / len(samples)) if samples else 0.0
    return Audio(seconds=seconds, rms=rms)


def han_count(text: str) -> int:
    """Number of Chinese characters (what the duration check is scaled by)."""
    return len(re.findall(r"[\u4e00-\u9fff]", text))


def assert_plausible_speech(audio: Audio, spoken: str) -> None:
    """Not silent, and as long as `spoken` should take at the default rate."""
    n = han_count(spoken)
    assert n > 0
    assert audio.rms > MIN_RMS, f"audio is (nearly) silent: RMS {audio.rms:.0f}"
    per_char = audio.seconds / n
    assert MIN_S_PER_CHAR <= per_char <= MAX_S_PER_CHAR, (
        f"{audio.seconds:.2f} s for {n} characters ({per_char:.3f} s/char)"
    )


class AudioCheck:
    """The audio measurements, handed to tests as the `sound` fixture."""

    measure = staticmethod(measure_wav)
    han_count = staticmethod(han_count)
    assert_plausible = staticmethod(assert_plausible_speech)


@pytest.fixture
def sound() -> AudioCheck:
    """Measure WAVs and check they sound like speech of the right length."""
    return AudioCheck()


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private XUNWU_DATA_DIR and the default voice and rate, set before settings()."""
    path = tmp_path / "data"
    monkeypatch.setenv("XUNWU_DATA_DIR", str(path))
    monkeypatch.setenv("TTS_VOICE", "sit/cmn-latn-pinyin")
    monkeypatch.setenv("TTS_RATE", "150")
    return path


@pytest.fixture(scope="session")
def speech_tools() -> None:
    """The speech tests use the real espeak-ng and opus-tools; say so when absent."""
    missing = [t for t in ("espeak-ng", "opusenc", "opusdec", "opusinfo") if not shutil.which(t)]
    if missing:
        pytest.fail(
            f"missing {', '.join(missing)}: apt-get install -y espeak-ng libespeak-ng1 opus-tools",
            pytrace=False,
        )


def break_pyttsx3(monkeypatch: pytest.MonkeyPatch, error: Exception) -> None:
    """From now on in this test pyttsx3 fails to start with `error`, as if never tried before,
    so speech falls back to the espeak-ng command line."""
    from speech import tts

    class Broken:
        def __init__(self) -> None:
            raise error

    # the real engine stays referenced by monkeypatch and is restored afterwards
    monkeypatch.setattr(tts, "_engine", None)
    monkeypatch.setattr(tts, "_engine_error", None)
    monkeypatch.setattr(tts, "_Pyttsx3Engine", Broken)


async def ticks_while(work: Awaitable[T], every: float) -> tuple[T, int]:
    """`await work`, and how many times a task that sleeps `every` seconds ran meanwhile
    (none: `work` blocked the event loop)."""
    ticks = 0
    done = asyncio.Event()

    async def tick() -> None:
        nonlocal ticks
        while not done.is_set():
            ticks += 1
            await asyncio.sleep(every)

    task = asyncio.create_task(tick())
    result = await work
    done.set()
    await task
    return result, ticks


def in_threads(work: Callable[[int], T], count: int, timeout: float = 60.0) -> dict[int, T]:
    """`work(0)` … `work(count - 1)`, each in a thread of its own, all at once: their results by
    number (the test fails with the errors if any raised)."""
    results: dict[int, T] = {}
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = work(i)
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
    assert not errors, errors
    return results
