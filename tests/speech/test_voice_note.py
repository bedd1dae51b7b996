"""speech.voice_note with the real espeak-ng and opus-tools: OGG/Opus notes and their cache."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from speech import tts
from speech import voice_note as vn
from speech.normalize import to_speakable
from tests.speech.conftest import break_pyttsx3, in_threads, ticks_while

if TYPE_CHECKING:
    from conftest import Audio, AudioCheck

pytestmark = pytest.mark.usefixtures("speech_tools")

ANSWER = "【官方】困难残疾人生活补贴每人每月80元，办理请拨打0797-2831234。"
LONG_ANSWER = (
    "### 两项补贴\n"
    "困难残疾人生活补贴和重度残疾人护理补贴，是残疾人两项补贴制度的主要内容。\n"
    "1. 申请人可以向户籍所在地的乡镇人民政府提出申请，也可以请村委会帮忙代办。\n"
    "2. 审核通过以后，补贴按月发放到本人的银行账户，标准以当年公布为准。\n"
    "3. 0-6岁残疾儿童还可以申请康复救助，约1.5%的家庭需要上门服务。\n"
    "您的工单号是 XW-7K3P9，请记好。来源：规划第五部分（一）"
)


def decoded(ogg: Path, tmp_path: Path, sound: AudioCheck) -> Audio:
    """Decode with the real opusdec and measure duration and loudness."""
    return sound.measure(vn.decode_opus(ogg, tmp_path / f"{ogg.stem}.decoded.wav"))


def test_voice_note_is_ogg_opus_with_plausible_speech(
    data_dir: Path,
    tmp_path: Path,
    sound: AudioCheck,
) -> None:
    notes = asyncio.run(vn.voice_notes(ANSWER))
    assert len(notes) == 1
    ogg = notes[0]
    assert ogg.parent == data_dir / "speech-cache"
    assert ogg.read_bytes()[:4] == b"OggS"
    assert b"OpusHead" in ogg.read_bytes()[:200]
    audio = decoded(ogg, tmp_path, sound)
    sound.assert_plausible(audio, to_speakable(ANSWER))
    assert vn.duration_seconds(ogg) == pytest.approx(audio.seconds, abs=0.1)


def test_duration_without_opusinfo_decodes(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    ogg = asyncio.run(vn.voice_notes(ANSWER))[0]
    with_info = vn.duration_seconds(ogg)
    monkeypatch.setattr(vn, "_opusinfo_seconds", lambda _ogg: None)
    assert vn.duration_seconds(ogg) == pytest.approx(with_info, abs=0.05)


def test_long_text_is_split_and_proportionally_longer(
    data_dir: Path,
    tmp_path: Path,
    sound: AudioCheck,
) -> None:
    short = asyncio.run(vn.voice_notes(ANSWER))
    long = asyncio.run(vn.voice_notes(LONG_ANSWER))
    spoken_long = to_speakable(LONG_ANSWER)
    chunks = vn.split_chunks(spoken_long)
    assert len(long) == len(chunks) >= 2
    assert all(len(c) <= vn.MAX_CHUNK_CHARS for c in chunks)
    short_s = sum(decoded(p, tmp_path, sound).seconds for p in short)
    long_audio = [decoded(p, tmp_path, sound) for p in long]
    for chunk, audio in zip(chunks, long_audio, strict=True):
        sound.assert_plausible(audio, chunk)
    ratio = sum(a.seconds for a in long_audio) / short_s
    chars_ratio = sound.han_count(spoken_long) / sound.han_count(to_speakable(ANSWER))
    assert 0.6 * chars_ratio <= ratio <= 1.4 * chars_ratio, (ratio, chars_ratio)


def test_cache_hit_returns_same_file_without_synthesis(data_dir: Path) -> None:
    vn.stats.reset()
    first = asyncio.run(vn.voice_notes(LONG_ANSWER))
    made = vn.stats.synthesized
    assert made == len(first)
    mtimes = [p.stat().st_mtime_ns for p in first]
    second = asyncio.run(vn.voice_notes(LONG_ANSWER))
    assert second == first
    assert vn.stats.synthesized == made, "a cached chunk was synthesised again"
    assert vn.stats.cache_hits == len(first)
    assert [p.stat().st_mtime_ns for p in second] == mtimes
    assert vn.stats.seconds_per_100_chars() > 0


def test_cache_is_keyed_by_text_voice_and_rate(data_dir: Path) -> None:
    a = asyncio.run(vn.voice_notes(ANSWER))[0]
    b = asyncio.run(vn.voice_notes(ANSWER, rate=200))[0]
    assert a != b
    chunk = vn.split_chunks(to_speakable(ANSWER))[0]
    assert a == vn.cache_path(chunk, "sit/cmn-latn-pinyin", 150)
    assert b == vn.cache_path(chunk, "sit/cmn-latn-pinyin", 200)
    assert vn.cache_key(chunk, "sit/cmn-latn-pinyin", 150) != vn.cache_key(chunk, "sit/cmn", 150)
    # the screen text differs, the speech does not: one cache entry
    assert asyncio.run(vn.voice_notes("**" + ANSWER + " 😀"))[0] == a


def test_no_temporary_files_are_left(data_dir: Path) -> None:
    asyncio.run(vn.voice_notes(LONG_ANSWER))
    names = [p.name for p in (data_dir / "speech-cache").iterdir()]
    assert names and all(n.endswith(".ogg") and not n.startswith(".") for n in names)


@pytest.mark.parametrize("text", ["", "   ", "😀👍", "**", "Hello world", "# --- *"])
def test_nothing_speakable_gives_no_notes(data_dir: Path, text: str) -> None:
    assert asyncio.run(vn.voice_notes(text)) == []
    assert not (data_dir / "speech-cache").exists()


def test_event_loop_is_not_blocked(data_dir: Path) -> None:
    notes, ticks = asyncio.run(ticks_while(vn.voice_notes(LONG_ANSWER), 0.005))
    assert notes
    assert ticks >= 5, "the event loop did not run while speech was made"


def test_five_concurrent_threads_get_complete_notes(
    data_dir: Path,
    tmp_path: Path,
    sound: AudioCheck,
) -> None:
    texts = [f"这是第{n}位居民的问题，{'补贴' * n}怎么申请？" for n in range(1, 6)]
    results = in_threads(lambda i: asyncio.run(vn.voice_notes(texts[i])), 5)
    for i in range(5):
        (ogg,) = results[i]
        sound.assert_plausible(decoded(ogg, tmp_path, sound), to_speakable(texts[i]))


def test_same_chunk_requested_concurrently_is_made_once(data_dir: Path) -> None:
    vn.stats.reset()

    async def main() -> list[list[Path]]:
        return await asyncio.gather(*(vn.voice_notes(ANSWER) for _ in range(4)))

    results = asyncio.run(main())
    assert all(r == results[0] for r in results)
    assert vn.stats.synthesized == 1
    assert vn.stats.cache_hits == 3


def test_cli_fallback_makes_voice_notes(
    data_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    sound: AudioCheck,
) -> None:
    break_pyttsx3(monkeypatch, ImportError("No module named 'pyttsx3'"))
    notes = asyncio.run(vn.voice_notes(ANSWER))
    assert tts.active_backend() == "espeak-ng"
    sound.assert_plausible(decoded(notes[0], tmp_path, sound), to_speakable(ANSWER))


def test_encode_failure_is_a_speech_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not a wav")
    with pytest.raises(tts.SpeechError, match="opusenc"):
        vn.encode_opus(bad, tmp_path / "bad.ogg")
    assert not (tmp_path / "bad.ogg").exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.wav"]


@pytest.mark.parametrize(
    ("text", "chunks"),
    [
        ("", []),
        ("你好。", ["你好。"]),
        ("第一行\n第二行", ["第一行。第二行。"]),
        ("甲。" * 70, ["甲。" * 60, "甲。" * 10]),
    ],
)
def test_split_chunks(text: str, chunks: list[str]) -> None:
    assert vn.split_chunks(text) == chunks


def test_split_chunks_cuts_overlong_sentences() -> None:
    sentence = "，".join(["残疾人两项补贴"] * 30) + "。"
    chunks = vn.split_chunks(sentence)
    assert len(chunks) >= 2
    assert all(len(c) <= vn.MAX_CHUNK_CHARS for c in chunks)
    assert "".join(chunks) == sentence
    no_commas = "补" * 300 + "。"
    assert [len(c) for c in vn.split_chunks(no_commas)] == [120, 120, 61]


def test_speak_local_without_a_device_returns_false(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(vn, "local_player", lambda: None)
    assert vn.speak_local("你好") is False


def test_speak_local_plays_with_the_found_player(data_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    played: list[Path] = []
    real_run = vn.subprocess.run

    def fake_player(cmd: list[str], **kwargs: object) -> object:
        if cmd[0] == "fake-player":
            played.append(Path(cmd[-1]))
            tts.check_wav(Path(cmd[-1]))
            return real_run(["true"], **kwargs)
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(vn, "local_player", lambda: ["fake-player"])
    monkeypatch.setattr(vn.subprocess, "run", fake_player)
    assert vn.speak_local("你好，80元") is True
    assert len(played) == 1
    assert vn.speak_local("😀") is False


def test_local_player_is_found_from_what_the_machine_has(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """paplay when a PulseAudio server is there, else aplay when ALSA lists a card, else None."""
    bin_dir, runtime = tmp_path / "bin", tmp_path / "run"
    bin_dir.mkdir()
    monkeypatch.setenv("PATH", str(bin_dir))
    monkeypatch.delenv("PULSE_SERVER", raising=False)
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(runtime))
    assert vn.local_player() is None  # no player at all

    def tool(name: str) -> None:
        (bin_dir / name).write_text("#!/bin/sh\nexit 0\n")
        (bin_dir / name).chmod(0o755)

    tool("aplay")
    cards = Path("/proc/asound/cards")
    has_card = cards.is_file() and any(line.strip()[:1].isdigit() for line in cards.read_text().splitlines())
    assert vn.local_player() == (["aplay", "-q"] if has_card else None)
    tool("paplay")  # without pactl, a PulseAudio socket in the runtime folder means a server
    assert vn.local_player() == (["aplay", "-q"] if has_card else None)
    (runtime / "pulse").mkdir(parents=True)
    (runtime / "pulse" / "native").touch()
    assert vn.local_player() == ["paplay"]
