"""BENCHMARKS.md from bench/results.json: one section per benchmark, with the figure, how it
was measured, the command that reproduces it, the machine, and the verdict against its target.

`.venv/bin/python -m bench report` rewrites it without measuring anything.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

from bench import footprint, latency, load, quality, speech_bench, voice_bench
from bench.harness import RESULTS
from common.config import ROOT

OUT = ROOT / "BENCHMARKS.md"
PROFILED = " [sampled by py-spy]"  # the name suffix of `--profile` runs (bench/__main__.py)


def _load(result: dict) -> str:
    """'load 3.5 / 4.1 (1 / 5 min) on 2 cores' from a result's load_before."""
    lb = result.get("load_before") or {}
    if not lb:
        return "load not recorded"
    return f"load average {lb['1m']} / {lb['5m']} (1 / 5 min) on {lb.get('cores', '?')} cores"


def _verdict(met: bool | None) -> str:
    return {True: "met", False: "**MISSED**", None: "–"}[met]


def _judged(key: str, result: dict) -> str:
    """The verdict, except for profiled runs: the sampler slows the servers, so they are not judged."""
    return "not judged (profiler on)" if PROFILED in key else _verdict(result["target_met"])


def _when(result: dict) -> str:
    return result.get("measured_at", "?")


def _variants(data: dict, name: str) -> list[tuple[str, dict]]:
    """The default result and the `--env` variants saved as "name [KEY=VALUE]"."""
    rows = [(name, data[name])] if name in data else []
    rows += [(k, v) for k, v in sorted(data.items()) if k.startswith(f"{name} [")]
    return rows


def _profile_lines(profile: dict | None, who: str) -> list[str]:
    if not profile or not profile.get("samples"):
        return []
    shares = ", ".join(f"{k.strip('… ')} {v}%" for k, v in profile["share_percent"].items() if v >= 1)
    top = "; ".join(f"{pct}% {frame}" for pct, frame in profile["top_self_percent"][:6])
    return [
        f"- py-spy on the {who} ({profile['samples']} samples, {profile['busy_seconds']} s busy; "
        f"raw stacks `{profile['raw']}`): share of busy time under — {shares}.",
        f"- hottest frames (self time): {top}.",
    ]


def summary(data: dict) -> list[str]:
    lines = [
        "| benchmark | headline figure | target | verdict | measured | machine load then |",
        "|---|---|---|---|---|---|",
    ]
    q = data.get("quality")
    sets = [("answer quality", q), ("answer quality, held-out set", (q or {}).get("holdout"))]
    for name, r in sets:
        if not r:
            continue
        o = r["overall"]
        lines.append(
            f"| {name} | top-1 {o['top1']:.2f}, top-3 {o['top3']:.2f} (lexical baseline top-1 "
            f"{o['lexical_top1']:.2f}); wrong answers {o['wrong_answer']:.2f} | top-1 ≥ {quality.TARGET_TOP1:.2f} | "
            f"{_verdict(o['top1'] >= quality.TARGET_TOP1)} | {_when(q)} | – |"
        )
    for key, r in _variants(data, "latency"):
        lines.append(
            f"| {key} | p95 {r['overall_ms'].get('p95', 0):.0f} ms per turn (p50 {r['overall_ms'].get('p50', 0):.0f}) "
            f"| p95 ≤ {r['target_p95_ms']:.0f} ms | {_judged(key, r)} | {_when(r)} | {_load(r)} |"
        )
    for key, r in _variants(data, "load"):
        at = next((lv for lv in r["levels"] if lv["users"] == load.TARGET_USERS), None)
        fig = (
            f"{at['turns_per_second']} turns/s at {at['users']} residents, p95 {at['turn_ms'].get('p95', 0):.0f} ms, "
            f"{at['errors']} errors"
            if at
            else "level of 20 not run"
        )
        lines.append(f"| {key} | {fig} | {r['target']} | {_judged(key, r)} | {_when(r)} | {_load(at or {})} |")
    s = data.get("speech")
    if s:
        lines.append(
            f"| speech | {s['cold']['s_per_100_chars']} s per 100 characters (synthesis + Opus), cache hit "
            f"{s['cache_hit']['per_reply_ms'].get('p50', 0):.1f} ms | ≤ {s['target_s_per_100_chars']} s | "
            f"{_verdict(s['target_met'])} | {_when(s)} | {_load(s)} |"
        )
    f = data.get("footprint")
    if f:
        warm = f.get("memory_after_warmup", {})
        t = f.get("training") or {}
        i = f.get("install") or {}
        fig = (
            f"RSS after warm-up: Rasa {warm.get('rasa', {}).get('rss_mib', '?')} MiB, actions "
            f"{warm.get('actions', {}).get('rss_mib', '?')} MiB; training "
            f"{str(round(t['seconds'])) + ' s' if t.get('ok') else 'not measured'}; install "
            f"{str(round(i['total_seconds'])) + ' s' if i.get('ok') else 'not measured'}"
        )
        lines.append(f"| footprint | {fig} | – | – | {_when(f)} | – |")
    return lines


def latency_section(data: dict) -> list[str]:
    r = data.get("latency")
    if not r:
        return ["Not measured yet: `" + latency.COMMAND + "`."]
    lines = [
        "One simulated resident (one sender, one long conversation) over the REST channel with the "
        f"action server in the loop: {r['warmup_turns']} warm-up turns, then {r['turns']} measured turns — "
        "policy questions written for this benchmark (not the evaluation set), follow-ups, and help-request "
        "forms by digits (转人工 → name → phone → township digit → category digit → description → 0) each "
        "followed by 查进度. Client-side time of each `POST /webhooks/rest/webhook` (httpx, keep-alive, "
        "loopback). Then `POST /model/parse` alone for every policy question and follow-up, twice.",
        "",
        f"Command: `{r['command']}` · measured {_when(r)} · {_load(r)} · model `{r.get('model')}`",
        "",
        latency.markdown(r),
        "",
        f"Target p95 ≤ {r['target_p95_ms']:.0f} ms per turn: **{'met' if r['target_met'] else 'MISSED'}** "
        f"(p95 {r['overall_ms'].get('p95', 0):.0f} ms). Replies that were wrong or empty: {r['problems']}.",
        "",
        "Where the time goes:",
        f"- server CPU per turn: Rasa {r['server_cpu_ms_per_turn'].get('rasa')} ms, action server "
        f"{r['server_cpu_ms_per_turn'].get('actions')} ms (from /proc/<pid>/stat; the rest of a turn's wall "
        "time is waiting for a CPU on the shared machine, or I/O).",
        f"- NLU alone (`/model/parse`) p50 {r['parse_only_ms'].get('p50', 0):.0f} ms against a whole turn's p50 "
        f"{r['overall_ms'].get('p50', 0):.0f} ms.",
        *_profile_lines((r.get("profile") or {}).get("rasa"), "Rasa server"),
        *_profile_lines((r.get("profile") or {}).get("actions"), "action server"),
    ]
    if r.get("sqlite_commit_ms"):
        cells = ", ".join(f"{k} {v} ms" for k, v in r["sqlite_commit_ms"].items())
        lines.append(
            f"- one small SQLite commit in the data folder, measured after the run: {cells} (why the tracker "
            "store runs SQLite in WAL mode with synchronous=NORMAL: rasa_addons/tracker_store.py)."
        )
    variants = _variants(data, "latency")
    if len(variants) > 1:
        lines += [
            "",
            "Same benchmark with other environment for the services (`python -m bench latency --env KEY=VALUE`):",
            "",
            "| run | p50 ms | p95 ms | p99 ms | parse-only p50 ms | Rasa CPU ms per turn | measured | load |",
            "|---|---|---|---|---|---|---|---|",
        ]
        for key, v in variants:
            o = v["overall_ms"]
            lines.append(
                f"| {key} | {o.get('p50', 0):.0f} | {o.get('p95', 0):.0f} | {o.get('p99', 0):.0f} | "
                f"{v['parse_only_ms'].get('p50', 0):.0f} | {v['server_cpu_ms_per_turn'].get('rasa')} | "
                f"{_when(v)} | {_load(v)} |"
            )
        for key, v in variants[1:]:
            rasa = (v.get("profile") or {}).get("rasa")
            lines += ["", f"Profile of `{key}`:", *_profile_lines(rasa, "Rasa server")]
    return lines


def load_section(data: dict) -> list[str]:
    r = data.get("load")
    if not r:
        return ["Not measured yet: `" + load.COMMAND + "`."]
    lines = [
        "N simulated residents at once (asyncio tasks sharing one httpx client, keep-alive, loopback), each "
        "holding real conversations back to back with no think time, each as a new sender: a greeting, 2–3 "
        "policy questions, a follow-up, a help-request form completed by digits, a status check. Each level "
        f"runs {r['duration_per_level_s']:.0f} s (no turn starts after that; at most "
        f"{r['max_conversations_per_resident']} conversations per resident; request timeout "
        f"{r['request_timeout_s']:.0f} s). Errors: HTTP errors, timeouts, empty replies, a form that made no "
        "ticket, a status that listed none. CPU in cores from /proc (the client's own share included), RSS "
        "sampled every second.",
        "",
        f"Command: `{r['command']}` · measured {_when(r)} · model `{r.get('model')}`",
        "",
        load.markdown(r),
        "",
        f"Target {r['target']}: **{_verdict(r['target_met']).strip('*')}**.",
    ]
    lines += _level_lines(r)
    for key, v in _variants(data, "load")[1:]:
        lines += ["", f"`{key}` (`python -m bench load --env ...`), measured {_when(v)}:", "", load.markdown(v), ""]
        lines += _level_lines(v)
    return lines


def _level_lines(result: dict) -> list[str]:
    lines = []
    for lv in result["levels"]:
        lines.append(
            f"- {lv['users']} residents: {_load(lv)}; ≈ {_rasa_ms_per_turn(lv)} ms Rasa CPU per turn; errors "
            f"{lv['errors_by_kind'] or 'none'}" + (f" (e.g. {lv['error_examples'][0]})" if lv["error_examples"] else "")
        )
        lines += [f"  {x}" for x in _profile_lines((lv.get("profile") or {}).get("rasa"), "Rasa server")]
    return lines


def _rasa_ms_per_turn(level: dict) -> float | None:
    """Rasa CPU per turn during a load level: busy cores × 1000 / turns per second."""
    if level.get("rasa_cpu_ms_per_turn") is not None:
        return level["rasa_cpu_ms_per_turn"]
    tps = level.get("turns_per_second") or 0
    cores = (level.get("cpu_cores") or {}).get("rasa")
    return round(cores * 1000 / tps) if tps and cores is not None else None


def _at_target(result: dict | None) -> dict:
    return next((lv for lv in (result or {}).get("levels", []) if lv["users"] == load.TARGET_USERS), {})


def analysis(data: dict) -> list[str]:
    """Findings computed from the results: each line says which measurement it rests on."""
    out: list[str] = []
    lat = data.get("latency")
    ld = data.get("load")
    prof = data.get("latency" + PROFILED)
    if lat:
        level = _at_target(ld)
        per_turn = _rasa_ms_per_turn(level) if level else None
        out.append(
            "**Latency and load: the Rasa process is the limit.** Rasa serves every message on one asyncio event "
            "loop in one process; NLU (jieba, DIET on TensorFlow, the knowledge step's e5-small on torch), the "
            "policies and the tracker store all run on that loop, one message at a time, so Rasa's CPU per "
            "turn caps throughput no matter how many residents wait. The action server "
            f"({lat['server_cpu_ms_per_turn'].get('actions')} ms of CPU per turn) and the load generator "
            "(the 'client' column, a few hundredths of a core) are not the limit."
        )
        if per_turn:
            out.append(
                f"Under load at {load.TARGET_USERS} residents Rasa kept {level['cpu_cores'].get('rasa')} cores busy "
                f"for {level['turns_per_second']} turns/s, i.e. ≈ {per_turn} ms of Rasa CPU per turn; in the "
                f"latency run (one conversation growing to {lat['turns'] + lat['warmup_turns']} turns) "
                f"{lat['server_cpu_ms_per_turn'].get('rasa')} ms per turn."
            )
        out += [
            "",
            "Already in place (each was measured before and after with these benchmarks; the commit messages "
            "name them): one compute thread per server (`OMP_NUM_THREADS=1` in launcher/training.py's "
            "child_env), no sentence embedding for digits and for intents that are not questions plus a cache "
            "of recent decisions (knowledge/nlu.py), sessions that expire after 60 minutes (domain.yml), "
            "SQLite in WAL mode with recent trackers kept in memory (rasa_addons/tracker_store.py), rules alone "
            "(no TED, no memoization; config.yml), the action server's answers checked with a validator "
            "compiled once instead of once per call (rasa_addons/server.py; Rasa's `jsonschema.validate` "
            "cost about 13 ms of CPU per action call), and requests to the action server that carry the events "
            "of the recent turns instead of the whole session (rasa_addons/server.py).",
        ]
        if prof:
            pct = (prof.get("profile") or {}).get("rasa", {}).get("share_percent") or {}
            out += [
                "",
                f"py-spy on Rasa during the latency run (`latency{PROFILED}`, measured {_when(prof)}; share of "
                f"busy time): dialogue "
                f"policies {pct.get('dialogue policies (rules)')}%, "
                "calls to the action server "
                f"{pct.get('action calls to the action server')}%, validation of the action server's "
                f"answers {pct.get('event validation (jsonschema)')}%, NLU {pct.get('NLU parse (all components)')}% "
                f"(e5-small {pct.get('… … sentence embedding (e5-small, torch)')}%), tracker writes "
                f"{pct.get('tracker store: write')}%.",
            ]
        out += ["", "What would still move it:", ""]
        thirds = lat.get("by_third_ms") or []
        if len(thirds) == 3 and thirds[0].get("p50") and thirds[2].get("p50"):
            out.append(
                f"- Shorter trackers for the policies: p50 {thirds[0]['p50']:.0f} ms in the first third of the "
                f"latency run, {thirds[2]['p50']:.0f} ms in the last. The benchmark's resident sends "
                f"{lat['turns'] + lat['warmup_turns']} turns inside one session, so the 60-minute expiry does not "
                "bound it, and Rasa's rule policy still walks every event of the session on each turn. Real "
                "residents write far fewer turns per hour."
            )
        out.append(
            "- More than one core for Rasa: several Rasa processes behind a proxy that routes each sender to the "
            "same process (the recent trackers kept in memory and Rasa's in-memory lock store both need that; "
            "SANIC_WORKERS alone would not do it) — on this 2-core machine at most 2×. "
            f"The load target of {load.TARGET_TPS:.0f} turns/s needs Rasa's CPU per turn below "
            f"{1000 / load.TARGET_TPS:.0f} ms with one process on an otherwise idle machine (measured above: "
            f"≈ {per_turn} ms under load)."
        )
    sp = data.get("speech")
    if sp and not sp.get("target_met") and sp.get("variants"):
        c = sp["cold"]
        v = sp["variants"]
        best = v["best"]
        args = " ".join(next(r["opusenc_args"] for r in v["opusenc"] if r["variant"] == best["variant"]))
        out += [
            "",
            f"**Speech.** Of the {c['s_per_100_chars']} s per 100 characters, synthesis is "
            f"{c['synth_s_per_100_chars']} s and opusenc {c['encode_s_per_100_chars']} s (CPU: "
            f"{c['cpu_synth_s_per_100_chars']} s and {c['cpu_opusenc_s_per_100_chars']} s"
            + (
                "; the encoding seconds exceed the CPU because two opusenc ran at once on a shared machine"
                if c["encode_s_per_100_chars"] > 1.2 * c["cpu_opusenc_s_per_100_chars"]
                else ""
            )
            + "). The encoder's default complexity 10 is the cost, not espeak-ng; longer frames "
            "(`--framesize 60`) barely move it. "
            "Lowering the complexity alone lets libopus's VBR overshoot "
            "(`--comp 5` in the table: same CPU saving, a much bigger file); constrained VBR (`--cvbr`) keeps "
            f"the size. Recommended for speech/voice_note.py: `opusenc {args}` — synthesis + encoding CPU "
            f"{best['cpu_s_per_100_chars_with_synthesis']} s per 100 characters instead of "
            f"{best['current_cpu_s_per_100_chars_with_synthesis']} s, still mono OGG/Opus at about the same bit "
            f"rate (rule: {best['rule']}).",
            "",
            "The variants were checked to be mono OGG/Opus streams (opusinfo), not compared by ear: espeak-ng's "
            "voice is synthetic and narrow-band, which lower Opus complexities handle well, but listen to a few "
            "before switching. Chunks are already encoded in parallel (one opusenc per core); the serial vs "
            "parallel line above shows what that bought at the moment of measuring (it depends on whether the "
            "second core was free).",
        ]
    return out or ["All measured targets are met."]


def _section(
    result: dict | None,
    module: str,
    command: Callable[[dict], str],
    missing: str,
    *,
    intro: str | None = None,
    skip: int = 2,
    table: str = "markdown",
) -> list[str]:
    """One benchmark's part of BENCHMARKS.md: what it measures (`intro`, by default its module's
    docstring past the first `skip` paragraphs), the command and date, its table; or, not measured
    yet, the command `missing` that measures it. The module is imported only for a result (some
    import the test fakes)."""
    if not result:
        return [f"Not measured yet: `{missing}`."]
    mod = importlib.import_module(f"bench.{module}")
    if intro is None:
        intro = mod.__doc__.split("\n\n", skip)[skip].strip() if mod.__doc__ else ""
    return [intro, "", command(result), "", getattr(mod, table)(result)]


def write(path: Path = OUT) -> Path:
    """Write BENCHMARKS.md from bench/results.json; returns its path."""
    data = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    m = data.get("machine", {})
    machine = (
        f"{m.get('cpu', '?')}, {m.get('cores', '?')} cores, {m.get('memory', '?')} memory, Python "
        f"{m.get('python', '?')}, commit `{m.get('commit', '?')}`"
        + (" with uncommitted changes" if m.get("uncommitted_changes") else "")
        + f", results file last written {m.get('date', '?')}"
    )
    lines = [
        "# Benchmarks",
        "",
        "Written by `make bench` (`.venv/bin/python -m bench`) from `bench/results.json`; do not "
        "edit by hand. `python -m bench --full` adds model training and install from a clean state (about 10 "
        "more minutes); `python -m bench latency` (or quality, load, speech, footprint) runs one benchmark; "
        "`python -m bench report` only rewrites this file. Headline figures come from runs without a "
        'profiler; the rows marked "sampled by py-spy" come from '
        "`PY_SPY=/tmp/pyspy/bin/py-spy python -m bench latency load --profile` (py-spy in a scratch venv: "
        "`python3 -m venv /tmp/pyspy && /tmp/pyspy/bin/pip install py-spy`; sampling costs the servers some "
        "CPU, so their times are higher); raw stacks in `bench/profiles/` (not committed).",
        "",
        f"Machine: {machine}.",
        "",
        "The machine is shared (tests and training of other work may run at the same time), so each timed "
        "figure gives the load average at the moment it was measured; CPU-time figures (ms of CPU per turn, "
        "CPU seconds per 100 characters) are less sensitive to that load than wall times.",
        "",
        "## Summary",
        "",
        *summary(data),
        "",
        "## What residents mean (understanding)",
        "",
    ]
    lines += _section(
        data.get("understanding"),
        "understanding",
        lambda r: f"Command: `{r['command']}` · measured {_when(r)}",
        ".venv/bin/python -m bench understanding",
        skip=1,
        table="markdown_all",
    )
    lines += [
        "",
        "## Answer quality (the earlier sets, kept as regression sets)",
        "",
    ]
    lines += _section(
        data.get("quality"),
        "quality",
        lambda r: f"Command: `{r['command']}` · measured {_when(r)}",
        ".venv/bin/python -m bench quality",
        intro="The evaluation set `bench/eval/questions.yml` (written without seeing `knowledge/`), each question "
        "in a new conversation through Rasa's HTTP API. Full top-1: the first ID of the `answer_sources` slot is "
        'the labelled one (a clarifying question counts by its first option; "I don\'t know" is a miss); '
        "top-3: the label is among the first three IDs of the knowledge ranking; lexical: idf-weighted token "
        'coverage alone, no embedding, no NLU. Honest fallback: the reply said "I don\'t know"; wrong '
        "answer: a confident answer with the wrong ID.",
    )
    lines += ["", "## Latency", "", *latency_section(data), "", "## Load", "", *load_section(data), ""]
    lines += ["## Speech", ""]
    lines += _section(
        data.get("speech"),
        "speech_bench",
        lambda r: (
            f"Command: `{r['command']}` (add `--variants` to always measure the opusenc variants) · "
            f"measured {_when(r)} · {_load(r)}"
        ),
        speech_bench.COMMAND,
    )
    lines += ["", "## Voice", ""]
    lines += _section(
        data.get("voice"),
        "voice_bench",
        lambda r: f"Command: `{r['command']}` · measured {_when(r)} · {_load(r)}",
        voice_bench.COMMAND,
    )
    lines += ["", "## Footprint", ""]
    lines += _section(
        data.get("footprint"),
        "footprint",
        lambda r: f"Command: `{r['command']}` (memory; `make bench` measures it) · measured {_when(r)}",
        footprint.COMMAND,
        intro="VmRSS from `/proc/<pid>/status`, each server with its child processes: after warm-up (the latency "
        "run, or 20 turns), and the maximum of one-second samples during each load level. Training and "
        "install are opt-in (`--training`, `--install`, or `--full`); this table keeps their last measured "
        "values with the date.",
    )
    lines += ["", "## Reliability", ""]
    lines += _section(
        data.get("reliability"),
        "reliability",
        lambda r: f"Command: `.venv/bin/python -m bench reliability` · measured {_when(r)} · {r.get('seconds', '?')} s",
        ".venv/bin/python -m bench reliability",
    )
    lines += ["", "## Replicas", ""]
    lines += _section(
        data.get("replicas"),
        "replicas",
        lambda r: f"Command: `.venv/bin/python -m bench replicas` · measured {_when(r)}",
        ".venv/bin/python -m bench replicas",
    )
    missed = any(
        (v or {}).get("target_met") is False for k, v in data.items() if isinstance(v, dict) and PROFILED not in k
    )
    heading = "What limits the missed targets" if missed else "What limits speed"
    lines += ["", f"## {heading}, and what would move it", "", *analysis(data)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


if __name__ == "__main__":
    print(write())
