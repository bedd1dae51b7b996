"""speech.tts with the real espeak-ng: complete WAVs from pyttsx3 and from the CLI fallback."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from speech import tts
from speech.normalize import to_speakable
from tests.speech.conftest import break_pyttsx3, in_threads

if TYPE_CHECKING:
    from conftest import AudioCheck

pytestmark = pytest.mark.usefixtures("speech_tools", "data_dir")

SENTENCE = "寻乌县残疾人联合会欢迎您，请问有什么可以帮您？"
LONG = (
    "困难残疾人生活补贴和重度残疾人护理补贴，是残疾人两项补贴制度的主要内容。"
    "申请人可以向户籍所在地的乡镇人民政府提出申请，也可以请村委会帮忙代办。"
    "审核通过以后，补贴会按月发放到本人的银行账户，具体标准以当年公布为准。"
)


def test_pyttsx3_writes_complete_plausible_wav(tmp_path: Path, sound: AudioCheck) -> None:
    out = tts.synthesize(SENTENCE, tmp_path / "a.wav", backend="pyttsx3")
    assert out == tmp_path / "a.wav"
    info = tts.check_wav(out)
    assert (info.channels, info.sample_rate, info.sample_width) == (1, 22050, 2)
    sound.assert_plausible(sound.measure(out), SENTENCE)
    assert tts.active_backend() == "pyttsx3"
    assert list(tmp_path.iterdir()) == [out], "temporary files were left behind"


def test_longer_text_gives_proportionally_longer_audio(tmp_path: Path, sound: AudioCheck) -> None:
    short = sound.measure(tts.synthesize(SENTENCE, tmp_path / "short.wav"))
    long = sound.measure(tts.synthesize(LONG, tmp_path / "long.wav"))
    sound.assert_plausible(long, LONG)
    chars_ratio = len(LONG) / len(SENTENCE)
    ratio = long.seconds / short.seconds
    assert 0.6 * chars_ratio <= ratio <= 1.4 * chars_ratio, (ratio, chars_ratio)


def test_rate_changes_speed(tmp_path: Path, sound: AudioCheck) -> None:
    slow = sound.measure(tts.synthesize(SENTENCE, tmp_path / "slow.wav", rate=100))
    fast = sound.measure(tts.synthesize(SENTENCE, tmp_path / "fast.wav", rate=250))
    assert slow.seconds > 1.5 * fast.seconds


def test_every_rate_change_is_applied(tmp_path: Path, sound: AudioCheck) -> None:
    # pyttsx3's runAndWait used to cancel a just-queued rate change about 4 times in 10
    text = "请问有什么可以帮您？"
    rates = [100, 250, 150, 400, 80]
    cli = {
        r: sound.measure(tts.synthesize(text, tmp_path / f"cli{r}.wav", rate=r, backend="espeak-ng")).seconds
        for r in rates
    }
    for i, rate in enumerate(rates * 3):
        out = tts.synthesize(text, tmp_path / f"p{i}.wav", rate=rate, backend="pyttsx3")
        assert sound.measure(out).seconds == pytest.approx(cli[rate], abs=0.05), rate


def test_rate_is_clamped_to_espeak_range() -> None:
    assert tts.clamp_rate(10) == tts.MIN_RATE
    assert tts.clamp_rate(10_000) == tts.MAX_RATE
    assert tts.clamp_rate(None) == 150


def test_five_concurrent_threads_all_get_complete_files(tmp_path: Path, sound: AudioCheck) -> None:
    texts = [f"这是第{n}条测试语音，{'内容' * n}到此结束。" for n in range(1, 6)]
    spoken = [to_speakable(t) for t in texts]
    results = in_threads(lambda i: tts.synthesize(spoken[i], tmp_path / f"t{i}.wav"), 5)
    durations = []
    for i in range(5):
        tts.check_wav(results[i])
        audio = sound.measure(results[i])
        sound.assert_plausible(audio, spoken[i])
        durations.append(audio.seconds)
    assert durations == sorted(durations), "each text is longer than the one before"


def test_cli_backend_writes_complete_plausible_wav(tmp_path: Path, sound: AudioCheck) -> None:
    out = tts.synthesize(SENTENCE, tmp_path / "cli.wav", backend="espeak-ng")
    tts.check_wav(out)
    sound.assert_plausible(sound.measure(out), SENTENCE)


def test_cli_backend_handles_long_paths(tmp_path: Path, sound: AudioCheck) -> None:
    # espeak-ng cuts -w paths at 200 bytes and still exits 0; the module must cope
    deep = tmp_path / ("d" * 120) / ("e" * 120)
    out = tts.synthesize(SENTENCE, deep / ("f" * 100 + ".wav"), backend="espeak-ng")
    assert len(str(out)) > 300
    sound.assert_plausible(sound.measure(out), SENTENCE)


def test_cli_and_pyttsx3_agree_on_length(tmp_path: Path, sound: AudioCheck) -> None:
    a = sound.measure(tts.synthesize(SENTENCE, tmp_path / "a.wav", backend="pyttsx3"))
    b = sound.measure(tts.synthesize(SENTENCE, tmp_path / "b.wav", backend="espeak-ng"))
    assert abs(a.seconds - b.seconds) < 0.05


def test_falls_back_to_cli_when_pyttsx3_cannot_be_used(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    sound: AudioCheck,
) -> None:
    break_pyttsx3(monkeypatch, OSError("libespeak-ng.so.1: cannot open shared object file"))
    monkeypatch.setattr(tts, "_announced", set())
    calls: list[list[str]] = []
    real_run = tts.subprocess.run

    def spy(cmd: list[str], **kwargs: object) -> object:
        calls.append(cmd)
        return real_run(cmd, **kwargs)

    monkeypatch.setattr(tts.subprocess, "run", spy)
    with caplog.at_level(logging.INFO, logger="speech.tts"):
        out = tts.synthesize(SENTENCE, tmp_path / "fallback.wav", rate=160)
    assert tts.active_backend() == "espeak-ng"
    sound.assert_plausible(sound.measure(out), SENTENCE)
    assert calls and calls[0][1:5] == ["-v", "sit/cmn-latn-pinyin", "-s", "160"]
    assert "falling back to the espeak-ng command line" in caplog.text
    assert "libespeak-ng.so.1" in caplog.text
    with pytest.raises(tts.SpeechError, match="pyttsx3 cannot be used"):
        tts.synthesize(SENTENCE, tmp_path / "forced.wav", backend="pyttsx3")


def test_check_wav_rejects_truncated_files(tmp_path: Path) -> None:
    good = tts.synthesize(SENTENCE, tmp_path / "good.wav")
    data = good.read_bytes()
    cut = tmp_path / "cut.wav"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(tts.IncompleteWavError, match="RIFF size"):
        tts.check_wav(cut)
    header_only = tmp_path / "header.wav"
    header_only.write_bytes(data[:44])
    with pytest.raises(tts.IncompleteWavError):
        tts.check_wav(header_only)
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    with pytest.raises(tts.IncompleteWavError):
        tts.check_wav(empty)
    with pytest.raises(tts.IncompleteWavError):
        tts.check_wav(tmp_path / "missing.wav")


class _TruncatingEngine:
    """Stands in for pyttsx3 and writes a cut-off WAV, as a collected engine would."""

    def __init__(self, good: bytes, fail_times: int) -> None:
        self.good = good
        self.fail_times = fail_times
        self.calls = 0

    def synth(self, text: str, out: Path, voice: str, rate: int, timeout: float) -> None:
        self.calls += 1
        data = self.good if self.calls > self.fail_times else self.good[: len(self.good) // 3]
        Path(out).write_bytes(data)


def test_truncated_result_is_retried_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tts.synthesize(SENTENCE, tmp_path / "good.wav").read_bytes()
    fake = _TruncatingEngine(good, fail_times=1)
    monkeypatch.setattr(tts, "_engine", fake)
    out = tts.synthesize(SENTENCE, tmp_path / "retry.wav")
    assert fake.calls == 2
    assert out.read_bytes() == good


def test_never_returns_a_truncated_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    good = tts.synthesize(SENTENCE, tmp_path / "good.wav").read_bytes()
    fake = _TruncatingEngine(good, fail_times=99)
    monkeypatch.setattr(tts, "_engine", fake)
    target = tmp_path / "never.wav"
    with pytest.raises(tts.SpeechError, match="could not synthesise a complete WAV"):
        tts.synthesize(SENTENCE, target)
    assert fake.calls == 2
    assert not target.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["good.wav"]


def test_unknown_voice_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(tts.SpeechError, match="not installed"):
        tts.synthesize(SENTENCE, tmp_path / "x.wav", voice="sit/no-such-voice")
    with pytest.raises(tts.SpeechError, match="espeak-ng exited"):
        tts.synthesize(SENTENCE, tmp_path / "y.wav", voice="sit/no-such-voice", backend="espeak-ng")


def test_empty_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nothing"):
        tts.synthesize("  ", tmp_path / "e.wav")
