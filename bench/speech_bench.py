"""Speech: synthesis + Opus encoding per 100 characters, voice-note size, cache hits.

`.venv/bin/python -m bench speech`

Texts: real replies built from knowledge entries (answer, 来源, 下一步 — what the Telegram
bridge reads aloud), every k-th of `knowledge.base.load().entries`.
- cold: with an empty cache (a temporary XUNWU_DATA_DIR), `speech.voice_notes(text)` per
  reply; `stats.seconds_per_100_chars()` (synthesis + opusenc seconds per 100 speakable
  characters, as speech/ counts them), its split into synthesis and encoding, the wall time
  per 100 characters, and the CPU seconds of this process (synthesis) and of opusenc
  (children), which the machine's load does not inflate.
- size: bytes per second of audio (kbit/s) and per 100 characters.
- cache hit: the same replies again (every chunk cached), time per reply.
- variants (when the target is missed, or with --variants): the same chunks synthesised
  once to WAV, then encoded with opusenc option sets that still give a Telegram voice note
  (OGG/Opus, mono, 24 kbit/s target); per 100 characters: CPU, wall (median of repeats),
  size; plus synthesis by the espeak-ng command line and encoding chunks in parallel.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import shutil
import statistics
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from bench.harness import load_average, percentiles, save

TARGET_S_PER_100 = 0.5
N_TEXTS = 12
VARIANT_CHUNKS = 8
REPEATS = 3
COMMAND = ".venv/bin/python -m bench speech"
BASE = ["--bitrate", "24", "--downmix-mono", "--quiet"]  # what speech/voice_note.py runs
# From most to least encoder effort; all keep 24 kbit/s mono OGG/Opus.
VARIANTS: dict[str, list[str]] = {
    "current: --bitrate 24 --downmix-mono (comp 10, 20 ms)": [],
    "--comp 8": ["--comp", "8"],
    "--framesize 60": ["--framesize", "60"],
    "--comp 5": ["--comp", "5"],
    "--comp 5 --cvbr": ["--comp", "5", "--cvbr"],
    "--comp 5 --cvbr --framesize 60": ["--comp", "5", "--cvbr", "--framesize", "60"],
    "--comp 3 --cvbr": ["--comp", "3", "--cvbr"],
    "--comp 0 --cvbr": ["--comp", "0", "--cvbr"],
}


def reply_texts(n: int = N_TEXTS) -> list[str]:
    """Replies as the assistant sends them (utter_answer's layout), from every k-th entry."""
    from knowledge.base import load

    entries = load().entries
    step = max(1, len(entries) // n)
    return [f"{e.answer}\n来源：{e.cite}\n下一步：{e.next_step}" for e in entries[::step][:n]]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _self_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def cold_and_hits(texts: list[str]) -> dict:
    """voice_notes() on every text with an empty cache, then again (all cache hits)."""
    from speech import voice_note as vn
    from speech.tts import active_backend

    vn.stats.reset()
    notes: list[Path] = []
    wall = 0.0
    self0, child0 = _self_cpu(), _children_cpu()
    for text in texts:
        start = time.perf_counter()
        notes += asyncio.run(vn.voice_notes(text))
        wall += time.perf_counter() - start
    self_cpu, child_cpu = _self_cpu() - self0, _children_cpu() - child0
    s = vn.stats
    chars = s.chars_synthesized
    per100 = 100 / max(1, chars)
    cold = {
        "texts": len(texts),
        "written_chars": sum(len(t) for t in texts),
        "speakable_chars": chars,
        "chunks": s.synthesized,
        "backend": active_backend(),
        "s_per_100_chars": round(s.seconds_per_100_chars(), 3),
        "synth_s_per_100_chars": round(s.synth_seconds * per100, 3),
        "encode_s_per_100_chars": round(s.encode_seconds * per100, 3),
        "wall_s_per_100_chars": round(wall * per100, 3),
        "cpu_synth_s_per_100_chars": round(self_cpu * per100, 3),
        "cpu_opusenc_s_per_100_chars": round(child_cpu * per100, 3),
    }
    audio = sum(vn.duration_seconds(p) for p in notes)
    size = sum(p.stat().st_size for p in notes)
    sizes = {
        "notes": len(notes),
        "audio_seconds": round(audio, 1),
        "bytes": size,
        "kbit_per_s": round(size * 8 / 1000 / max(audio, 1e-6), 1),
        "kib_per_audio_second": round(size / 1024 / max(audio, 1e-6), 2),
        "kib_per_100_chars": round(size / 1024 * per100, 1),
        "audio_s_per_100_chars": round(audio * per100, 1),
    }
    hits_before = s.cache_hits
    hit_ms = []
    for text in texts:
        start = time.perf_counter()
        asyncio.run(vn.voice_notes(text))
        hit_ms.append((time.perf_counter() - start) * 1000)
    hits = {
        "per_reply_ms": percentiles(hit_ms),
        "cache_hits": s.cache_hits - hits_before,
        "synthesised_again": s.synthesized - cold["chunks"],
    }
    return {"cold": cold, "size": sizes, "cache_hit": hits}


def _ogg_facts(ogg: Path) -> dict:
    """Size, length, and whether it is a mono OGG/Opus stream (what Telegram plays as a voice note)."""
    from speech.voice_note import duration_seconds

    info = subprocess.run(["opusinfo", str(ogg)], capture_output=True, text=True, check=False).stdout
    ok = ogg.read_bytes()[:4] == b"OggS" and "type opus" in info and "Channels: 1" in info
    return {"bytes": ogg.stat().st_size, "seconds": duration_seconds(ogg), "telegram_ok": ok}


def _encode(wav: Path, out: Path, extra: list[str]) -> None:
    subprocess.run(["opusenc", *BASE, *extra, str(wav), str(out)], check=True, capture_output=True)


def variants(texts: list[str], max_chunks: int = VARIANT_CHUNKS, repeats: int = REPEATS) -> dict:
    """Where the time goes (synthesis vs opusenc) and opusenc option sets, on the same chunks."""
    from common.config import settings
    from speech.normalize import to_speakable
    from speech.tts import clamp_rate, synthesize_timed
    from speech.voice_note import split_chunks

    cfg = settings()
    chunks = [c for t in texts for c in split_chunks(to_speakable(t))][:max_chunks]
    chars = sum(len(c) for c in chunks)
    per100 = 100 / max(1, chars)
    out: dict = {"chunks": len(chunks), "speakable_chars": chars, "repeats": repeats}
    with tempfile.TemporaryDirectory(prefix="bench-speech-") as tmp:
        work = Path(tmp)
        wavs = [work / f"c{i}.wav" for i in range(len(chunks))]
        self0 = _self_cpu()
        rate = clamp_rate(None)
        synth_s = sum(synthesize_timed(c, w, rate=rate, voice=cfg.tts_voice) for c, w in zip(chunks, wavs, strict=True))
        out["synth_pyttsx3"] = {
            "s_per_100_chars": round(synth_s * per100, 3),
            "cpu_s_per_100_chars": round((_self_cpu() - self0) * per100, 3),
        }
        if shutil.which("espeak-ng"):
            cli = [work / f"cli{i}.wav" for i in range(len(chunks))]
            child0, start = _children_cpu(), time.perf_counter()
            for c, w in zip(chunks, cli, strict=True):
                subprocess.run(
                    ["espeak-ng", "-v", cfg.tts_voice, "-s", str(clamp_rate(None)), "-w", str(w), "--", c],
                    check=True,
                    capture_output=True,
                )
            out["synth_espeak_cli"] = {
                "s_per_100_chars": round((time.perf_counter() - start) * per100, 3),
                "cpu_s_per_100_chars": round((_children_cpu() - child0) * per100, 3),
            }
        walls: dict[str, list[float]] = {k: [] for k in VARIANTS}
        cpus: dict[str, list[float]] = {k: [] for k in VARIANTS}
        for _ in range(repeats):  # round robin, so load changes hit every variant alike
            for i, (name, extra) in enumerate(VARIANTS.items()):
                child0, start = _children_cpu(), time.perf_counter()
                for j, wav in enumerate(wavs):
                    _encode(wav, work / f"v{i}-{j}.ogg", extra)
                walls[name].append(time.perf_counter() - start)
                cpus[name].append(_children_cpu() - child0)
        rows = []
        for i, name in enumerate(VARIANTS):
            facts = [_ogg_facts(work / f"v{i}-{j}.ogg") for j in range(len(wavs))]
            size = sum(f["bytes"] for f in facts)
            audio = sum(f["seconds"] for f in facts)
            rows.append(
                {
                    "variant": name,
                    "opusenc_args": [*BASE, *VARIANTS[name]],
                    "cpu_s_per_100_chars": round(min(cpus[name]) * per100, 3),
                    "wall_s_per_100_chars": round(statistics.median(walls[name]) * per100, 3),
                    "kbit_per_s": round(size * 8 / 1000 / max(audio, 1e-6), 1),
                    "kib_per_100_chars": round(size / 1024 * per100, 1),
                    "telegram_ok": all(f["telegram_ok"] for f in facts),
                }
            )
        out["opusenc"] = rows
        out["parallel"] = _parallel(wavs, work, chunks)
    synth = out["synth_pyttsx3"]["cpu_s_per_100_chars"]
    ok_rows = [r for r in rows if r["telegram_ok"] and r["kbit_per_s"] <= rows[0]["kbit_per_s"] * 1.15]
    fast = [r for r in ok_rows if synth + r["cpu_s_per_100_chars"] <= TARGET_S_PER_100 / 2]
    best = fast[0] if fast else min(ok_rows or rows, key=lambda r: r["cpu_s_per_100_chars"])
    out["best"] = {
        "variant": best["variant"],
        "cpu_s_per_100_chars_with_synthesis": round(synth + best["cpu_s_per_100_chars"], 3),
        "current_cpu_s_per_100_chars_with_synthesis": round(synth + rows[0]["cpu_s_per_100_chars"], 3),
        "rule": "the most encoder effort (table order) whose synthesis + encoding CPU is at most half the target, "
        "leaving room for a busy machine, among Telegram-valid variants no more than 15 % above the current size",
    }
    return out


def _parallel(wavs: list[Path], work: Path, chunks: list[str]) -> dict:
    """All chunks encoded one after another vs on every core at once (current options)."""
    per100 = 100 / max(1, sum(len(c) for c in chunks))
    cores = os.cpu_count() or 1
    res = {}
    for label, workers in (("serial", 1), (f"{cores} at once", cores)):
        start = time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(lambda jw: _encode(jw[1], work / f"p{jw[0]}.ogg", []), enumerate(wavs)))
        res[label] = round((time.perf_counter() - start) * per100, 3)
    return {"wall_s_per_100_chars": res}


def run(force_variants: bool = False) -> dict:
    """Everything above in a temporary data folder (empty cache), saved as "speech"."""
    saved = os.environ.get("XUNWU_DATA_DIR")
    load_before = load_average()
    with tempfile.TemporaryDirectory(prefix="bench-speech-data-") as tmp:
        os.environ["XUNWU_DATA_DIR"] = tmp
        try:
            texts = reply_texts()
            result = cold_and_hits(texts)
            result["target_s_per_100_chars"] = TARGET_S_PER_100
            result["target_met"] = result["cold"]["s_per_100_chars"] <= TARGET_S_PER_100
            if force_variants or not result["target_met"]:
                result["variants"] = variants(texts)
        finally:
            if saved is None:
                os.environ.pop("XUNWU_DATA_DIR", None)
            else:
                os.environ["XUNWU_DATA_DIR"] = saved
    result["load_before"] = load_before
    result["load_after"] = load_average()
    result["command"] = COMMAND
    save("speech", result)
    return result


def markdown(result: dict) -> str:
    """The speech tables of BENCHMARKS.md."""
    c, z, h = result["cold"], result["size"], result["cache_hit"]
    miss = "" if result["target_met"] else " — **target missed**"
    lines = [
        "| figure | value |",
        "|---|---|",
        f"| synthesis + encoding, cold, per 100 characters | **{c['s_per_100_chars']} s** "
        f"(target ≤ {result['target_s_per_100_chars']} s{miss}) |",
        f"| … synthesis ({c['backend']}) / opusenc | {c['synth_s_per_100_chars']} s / "
        f"{c['encode_s_per_100_chars']} s |",
        f"| … CPU: synthesis / opusenc | {c['cpu_synth_s_per_100_chars']} s / {c['cpu_opusenc_s_per_100_chars']} s |",
        f"| wall time per 100 characters (chunks encoded in parallel) | {c['wall_s_per_100_chars']} s |",
        f"| replies / chunks / speakable characters | {c['texts']} / {c['chunks']} / {c['speakable_chars']} |",
        f"| voice-note size | {z['kbit_per_s']} kbit/s = {z['kib_per_audio_second']} KiB per second of audio; "
        f"{z['kib_per_100_chars']} KiB and {z['audio_s_per_100_chars']} s of audio per 100 characters |",
        f"| cache hit, per reply | p50 {h['per_reply_ms'].get('p50', 0):.1f} ms, "
        f"max {h['per_reply_ms'].get('max', 0):.1f} ms ({h['cache_hits']} chunks from cache, "
        f"{h['synthesised_again']} synthesised again) |",
    ]
    v = result.get("variants")
    if v:
        lines += [
            "",
            f"Where the time goes and what opusenc options would change ({v['chunks']} chunks, "
            f"{v['speakable_chars']} characters, {v['repeats']} rounds; CPU = best round, wall = median):",
            "",
            "| step / variant | CPU s per 100 chars | wall s per 100 chars | kbit/s | KiB per 100 chars "
            "| Telegram OGG/Opus mono |",
            "|---|---|---|---|---|---|",
            f"| synthesis, pyttsx3 in-process (current) | {v['synth_pyttsx3']['cpu_s_per_100_chars']} | "
            f"{v['synth_pyttsx3']['s_per_100_chars']} | | | |",
        ]
        if "synth_espeak_cli" in v:
            e = v["synth_espeak_cli"]
            lines.append(
                f"| synthesis, espeak-ng command line | {e['cpu_s_per_100_chars']} | {e['s_per_100_chars']} | | | |"
            )
        for r in v["opusenc"]:
            lines.append(
                f"| opusenc {r['variant']} | {r['cpu_s_per_100_chars']} | {r['wall_s_per_100_chars']} | "
                f"{r['kbit_per_s']} | {r['kib_per_100_chars']} | {'yes' if r['telegram_ok'] else 'NO'} |"
            )
        par = v["parallel"]["wall_s_per_100_chars"]
        lines.append("")
        lines.append(
            "Encoding the chunks of the set (current options), wall s per 100 characters: "
            + ", ".join(f"{k} {val}" for k, val in par.items())
            + "."
        )
        b = v["best"]
        lines.append(
            f"Best variant ({b['rule']}): **{b['variant']}** — synthesis + encoding CPU "
            f"{b['cpu_s_per_100_chars_with_synthesis']} s per 100 characters, against "
            f"{b['current_cpu_s_per_100_chars_with_synthesis']} s now."
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", action="store_true", help="measure opusenc variants even if the target is met")
    args = parser.parse_args()
    result = run(args.variants)
    print(markdown(result))
    print(json.dumps({"target_met": result["target_met"]}))


if __name__ == "__main__":
    main()
