"""Speech for the assistant: answers as Telegram voice notes for blind residents.

Speech is made here, on the bot's machine, with espeak-ng's Mandarin voice
(`settings().tts_voice`, default `sit/cmn-latn-pinyin`) and no network. The flow is
normalise (`speech.normalize.to_speakable`: numbers, dates, phones, ticket numbers,
brackets, URLs, Markdown and emoji rewritten for the ear) → synthesise
(`speech.tts.synthesize`: one pyttsx3 engine per process, or the espeak-ng CLI) →
encode (`opusenc` to OGG/Opus, the only format Telegram shows as a voice note) →
cache (`settings().data_dir / "speech-cache"`, keyed by sha256 of chunk, voice, rate).
`speech.voice_note.voice_notes(text)` does all four; `speak_local(text)` plays on a local
sound device when there is one.

For the ear: `speech.spoken` turns a reply into its spoken form (brief source, real pauses
after menu digits and between lines, grouped numbers, a listener's settings) and renders it
as ONE voice note through `speech.engine` (the one voice interface). `speech.asr`
transcribes residents' voice messages offline (Whisper base from registry wheels) and says
when it is unsure; the transcript is read back before anything is done with it.
"""

from .normalize import to_speakable
from .tts import SpeechError, synthesize
from .voice_note import duration_seconds, speak_local, voice_notes

__all__ = [
    "SpeechError",
    "duration_seconds",
    "speak_local",
    "synthesize",
    "to_speakable",
    "voice_notes",
]
