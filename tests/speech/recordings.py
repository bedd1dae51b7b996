"""Recordings made at test time for the recogniser's bad-input paths (real encoders, seeded)."""

from __future__ import annotations

import subprocess
import wave
from pathlib import Path

import av
import numpy as np

RATE = 48000


def write_wav(samples: np.ndarray, path: Path, rate: int = RATE) -> Path:
    """Float samples in [-1, 1] → 16-bit mono WAV."""
    pcm = (np.clip(samples, -1, 1) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def voice_note(samples: np.ndarray, path: Path, rate: int = RATE) -> Path:
    """Encode like a Telegram voice note: OGG/Opus, mono, 48 kHz, 32 kbit/s."""
    wav = write_wav(samples, path.with_suffix(".wav"), rate)
    subprocess.run(["opusenc", "--quiet", "--bitrate", "32", "--downmix-mono", str(wav), str(path)], check=True)
    wav.unlink()
    return path


_made: dict[tuple[float, float], bytes] = {}


def long_noise_note(path: Path, seconds: float = 600, level: float = 0.05) -> Path:
    """`voice_note(noise(seconds, level), path)`, encoded once per process (ten minutes take
    opusenc several seconds) and written again for each later call."""
    if (seconds, level) not in _made:
        _made[seconds, level] = voice_note(noise(seconds, level), path).read_bytes()
    else:
        path.write_bytes(_made[seconds, level])
    return path


def decode(path: Path, rate: int = RATE) -> np.ndarray:
    """A clip's samples, mono float32 at `rate`."""
    resampler = av.audio.resampler.AudioResampler(format="flt", layout="mono", rate=rate)
    out = []
    with av.open(str(path)) as container:
        for frame in container.decode(audio=0):
            out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(frame))
        out.extend(f.to_ndarray().reshape(-1) for f in resampler.resample(None))
    return np.concatenate(out).astype(np.float32)


def silence(seconds: float) -> np.ndarray:
    return np.zeros(int(seconds * RATE), np.float32)


def noise(seconds: float, level: float = 0.3, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).standard_normal(int(seconds * RATE)) * level).clip(-1, 1).astype(np.float32)


def music(seconds: float) -> np.ndarray:
    """A tune: chords of harmonics with a beat, no voice in it."""
    t = np.arange(int(seconds * RATE)) / RATE
    notes = [261.6, 329.6, 392.0, 523.3, 440.0, 349.2, 293.7, 392.0]
    out = np.zeros_like(t)
    beat = 0.4
    for i in range(int(seconds / beat) + 1):
        sel = (t >= i * beat) & (t < (i + 1) * beat)
        f = notes[i % len(notes)]
        env = np.exp(-3 * (t[sel] - i * beat))
        for h, amp in ((1, 0.5), (2, 0.25), (3, 0.12), (1.5, 0.2)):
            out[sel] += amp * env * np.sin(2 * np.pi * f * h * t[sel])
    bass = 0.2 * np.sin(2 * np.pi * 65.4 * t) * (0.5 + 0.5 * np.sign(np.sin(2 * np.pi * t / beat)))
    return (0.5 * (out + bass) / np.max(np.abs(out + bass))).astype(np.float32)


def with_noise(samples: np.ndarray, snr_db: float, seed: int = 7) -> np.ndarray:
    """Add white noise at a signal-to-noise ratio (over the whole clip)."""
    rng = np.random.default_rng(seed)
    power = float(np.mean(samples**2))
    n = rng.standard_normal(len(samples)) * np.sqrt(power / 10 ** (snr_db / 10))
    return (samples + n).clip(-1, 1).astype(np.float32)


def encode_with(path: Path, codec: str, samples: np.ndarray, rate: int = RATE, fmt: str | None = None) -> Path:
    """Audio in any codec PyAV can encode (mp2, ac3 …), in the container `fmt`."""
    with av.open(str(path), mode="w", format=fmt) as out:
        stream = out.add_stream(codec, rate=rate, layout="mono")
        frame_size = stream.codec_context.frame_size or 1024
        pcm = (np.clip(samples, -1, 1) * 32767).astype(np.int16)
        sample_fmt = stream.codec_context.format.name
        for start in range(0, len(pcm), frame_size):
            chunk = pcm[start : start + frame_size]
            if len(chunk) < frame_size:
                chunk = np.pad(chunk, (0, frame_size - len(chunk)))
            frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = rate
            if sample_fmt != "s16":
                frame = av.audio.resampler.AudioResampler(format=sample_fmt, layout="mono", rate=rate).resample(frame)[
                    0
                ]
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    return path


def video_note(path: Path, samples: np.ndarray, seconds: float = 2.0) -> Path:
    """A round-video-note-like MP4: a picture stream and the sound (AAC)."""
    with av.open(str(path), mode="w", format="mp4") as out:
        video = out.add_stream("mpeg4", rate=25)
        video.width = video.height = 240
        video.pix_fmt = "yuv420p"
        audio = out.add_stream("aac", rate=RATE, layout="mono")
        for i in range(int(seconds * 25)):
            img = np.full((240, 240, 3), (i * 5) % 255, np.uint8)
            for packet in video.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in video.encode(None):
            out.mux(packet)
        size = audio.codec_context.frame_size or 1024
        resampler = av.audio.resampler.AudioResampler(format=audio.codec_context.format.name, layout="mono", rate=RATE)
        for start in range(0, len(samples) - size, size):
            frame = av.AudioFrame.from_ndarray(
                samples[start : start + size].reshape(1, -1), format="flt", layout="mono"
            )
            frame.sample_rate = RATE
            for f in resampler.resample(frame):
                for packet in audio.encode(f):
                    out.mux(packet)
        for packet in audio.encode(None):
            out.mux(packet)
    return path
