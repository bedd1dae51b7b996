"""Voice: how long answers take to hear, and how well spoken questions are understood.

`PYTHONPATH=. .venv/bin/python -m bench voice`

Measured here, on this 2-core machine:
- answers: every knowledge entry's first reply in its spoken form (speech.spoken, as
  `python -m speech.preview --all` renders it), with the real espeak-ng voice at the
  default rate: seconds of speech, median and max, and how many are over the 40 s limit;
  the same for a listener who asked for shorter answers. Targets: median ≤ 25 s, none > 40 s.
- recognition: the committed clips of tests/data/asr (Kokoro-82M voices, Telegram
  OGG/Opus 48 kHz) transcribed by speech.asr: character error rate per clip and mean
  (questions; the two yes/no clips with the yes/no prompt), real-time factor (processing
  seconds / audio seconds, model warm), and in a fresh process: model load time, resident
  memory after loading and the peak while transcribing every clip.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench.harness import load_average, save

ROOT = Path(__file__).resolve().parents[1]
CLIPS = ROOT / "tests" / "data" / "asr"
COMMAND = "PYTHONPATH=. .venv/bin/python -m bench voice"
TARGET_MEDIAN_S = 25.0
TARGET_MAX_S = 40.0

# Run in a fresh interpreter: load the model, then transcribe every clip; print JSON.
_PROBE = r"""
import json, resource, sys, time
def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
start = time.perf_counter()
from speech import asr
before = rss()
ok = asr.preload()
load_s = time.perf_counter() - start
after = rss()
results = []
for path, expect in json.loads(sys.argv[1]):
    r = asr.transcribe(path, expect=expect)
    results.append({"text": r.text, "reason": r.reason, "unsure": r.unsure, "audio_s": r.audio_seconds,
                    "elapsed_s": r.elapsed, "avg_logprob": r.avg_logprob, "no_speech_prob": r.no_speech_prob})
print(json.dumps({"loaded": ok, "load_s": load_s, "model_load_s": asr.load_seconds(), "rss_before_mb": before,
                  "rss_after_load_mb": after, "rss_end_mb": rss(),
                  "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "results": results}))
"""


def answers() -> dict:
    """Seconds of speech per answer, for every entry (default and shorter listener)."""
    from knowledge.base import load
    from speech.preview import preview
    from speech.spoken import Listener

    entries = load().entries
    out: dict = {}
    for name, listener in (("default", Listener()), ("shorter", Listener(shorter=True))):
        start = time.perf_counter()
        seconds = {e.key: preview(e, listener).seconds for e in entries}
        values = sorted(seconds.values())
        out[name] = {
            "entries": len(values),
            "median_s": round(statistics.median(values), 1),
            "p90_s": round(values[int(0.9 * (len(values) - 1))], 1),
            "max_s": round(values[-1], 1),
            "longest": max(seconds, key=seconds.get),
            "over_max": sum(v > TARGET_MAX_S for v in values),
            "render_s": round(time.perf_counter() - start, 1),
        }
        if name == "default":
            out["per_entry_s"] = seconds
    d = out["default"]
    out["target_met"] = d["median_s"] <= TARGET_MEDIAN_S and d["over_max"] == 0
    return out


def recognition() -> dict:
    """CER, real-time factor, load time and memory, in a fresh process (model cold)."""
    from speech.asr import character_error_rate

    clips = json.loads((CLIPS / "clips.json").read_text(encoding="utf-8"))["clips"]
    jobs = [[str(CLIPS / c["file"]), "yes_no" if c["file"] in ("yes.ogg", "no.ogg") else "question"] for c in clips]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", "ASR_ENABLED": "1"}
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(jobs)],
        capture_output=True,
        text=True,
        env=env,
        timeout=900,
        check=True,
        cwd=ROOT,
    )
    probe = json.loads(proc.stdout.strip().splitlines()[-1])
    rows = []
    for clip, (_, expect), r in zip(clips, jobs, probe["results"], strict=True):
        rows.append(
            {
                "file": clip["file"],
                "said": clip["text"],
                "heard": r["text"],
                "reason": r["reason"],
                "expect": expect,
                "cer": round(character_error_rate(clip["text"], r["text"]), 3),
                "rtf": round(r["elapsed_s"] / r["audio_s"], 2) if r["audio_s"] else None,
                "avg_logprob": r["avg_logprob"],
            }
        )
    questions = [r for r in rows if r["expect"] == "question"]
    rtfs = [r["rtf"] for r in rows if r["rtf"] is not None]
    return {
        "clips": rows,
        "questions": len(questions),
        "mean_cer": round(statistics.mean(r["cer"] for r in questions), 3),
        "trusted": sum(1 for r in questions if not r["reason"]),
        "rtf_median": round(statistics.median(rtfs), 2),
        "rtf_max": round(max(rtfs), 2),
        "load_s": round(probe["load_s"], 2),
        "model_load_s": round(probe["model_load_s"] or 0, 2),
        "rss_after_load_mb": round(probe["rss_after_load_mb"]),
        "rss_end_mb": round(probe["rss_end_mb"]),
        "peak_rss_mb": round(probe["peak_rss_mb"]),
    }


def run() -> dict:
    before = load_average()
    return {"command": COMMAND, "load_before": before, "answers": answers(), "recognition": recognition()}


def markdown(result: dict) -> str:
    """The voice tables of BENCHMARKS.md."""
    a, r = result["answers"], result["recognition"]
    d, s = a["default"], a["shorter"]
    miss = "" if a["target_met"] else " — **target missed**"
    lines = [
        "| figure | value |",
        "|---|---|",
        f"| seconds of speech per answer, default listener | median **{d['median_s']} s**, p90 {d['p90_s']} s, "
        f"max **{d['max_s']} s** ({d['longest']}); {d['over_max']} of {d['entries']} over {TARGET_MAX_S:.0f} s "
        f"(target median ≤ {TARGET_MEDIAN_S:.0f} s, none > {TARGET_MAX_S:.0f} s{miss}) |",
        f"| … listener asked for shorter answers | median {s['median_s']} s, max {s['max_s']} s, "
        f"{s['over_max']} over {TARGET_MAX_S:.0f} s |",
        f"| transcription character error rate, {r['questions']} question clips | **{r['mean_cer'] * 100:.1f}%** "
        f"mean; {r['trusted']} of {r['questions']} trusted (not unsure) |",
        f"| real-time factor (processing / audio seconds, warm) | median {r['rtf_median']}, max {r['rtf_max']} |",
        f"| recogniser load (fresh process: import + model) | {r['load_s']} s ({r['model_load_s']} s the model) |",
        f"| memory of that process | {r['rss_after_load_mb']} MiB after loading, peak {r['peak_rss_mb']} MiB |",
        "",
        "| clip | said | heard | CER | RTF |",
        "|---|---|---|---|---|",
    ]
    for c in r["clips"]:
        heard = c["heard"] or "—"
        if c["reason"]:
            heard += f" [{c['reason']}]"
        lines.append(f"| {c['file']} ({c['expect']}) | {c['said']} | {heard} | {c['cer']:.2f} | {c['rtf']} |")
    return "\n".join(lines)


def main() -> int:
    result = run()
    result["measured_at"] = time.strftime("%Y-%m-%d %H:%M")
    save("voice", result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
