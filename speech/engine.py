"""The one interface every voice sits behind: text in, a complete mono 16-bit WAV out.

Callers (speech.voice_note, speech.spoken, the bridge through them) ask `current()` for
the engine and call `synthesize(text, out, rate=…)`; they never import a synthesiser.
Today the only engine is espeak-ng's Mandarin voice through pyttsx3 (with the espeak-ng
command line as fallback, see speech.tts). Another voice is added by writing a class with
the same two members, registering it in `ENGINES` and pointing `DEFAULT` (or a setting) at
it. The engine's `name` goes into every cache key, so two voices never share files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from common.config import settings

from . import tts


class Engine(Protocol):
    """A text-to-speech voice."""

    @property
    def name(self) -> str:
        """Identifies the voice and its settings (part of cache keys)."""
        ...

    def synthesize(self, text: str, out: Path, *, rate: int | None = None) -> float:
        """Speak speakable Chinese `text` into the WAV `out`; return the seconds spent.

        `rate` is espeak-style words per minute (settings().tts_rate when None); an engine
        with another scale maps it. Raises tts.SpeechError when no complete WAV results.
        """
        ...


class EspeakEngine:
    """espeak-ng's Mandarin voice (`settings().tts_voice`), via pyttsx3 or the CLI."""

    def __init__(self, voice: str | None = None) -> None:
        self.voice = voice or settings().tts_voice

    @property
    def name(self) -> str:
        return f"espeak-ng:{self.voice}"

    def synthesize(self, text: str, out: Path, *, rate: int | None = None) -> float:
        return tts.synthesize_timed(text, out, rate=rate, voice=self.voice)


ENGINES: dict[str, type] = {"espeak": EspeakEngine}
DEFAULT = "espeak"


def current() -> Engine:
    """The engine in use, for the configured voice."""
    return ENGINES[DEFAULT]()
