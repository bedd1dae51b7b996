"""Load: N concurrent simulated residents holding real multi-turn conversations.

`.venv/bin/python -m bench load` (levels 10, 20, 50 users)

Each simulated resident (an asyncio task; one httpx.AsyncClient, keep-alive, loopback) runs
conversations back to back with no think time, each as a new sender: a greeting, 2–3
policy questions, a follow-up, a help-request form completed by digits, and a status
check (13–14 turns). A level runs for `duration` seconds (no new turn starts after it) and
at most `MAX_CONVERSATIONS` per resident. Reported per level: turns per second, p50 / p95 /
p99 per turn, errors (HTTP errors, timeouts, empty replies, forms that made no ticket),
the CPU used by the Rasa server, the action server and this client (in cores), and
their resident memory sampled every second.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.harness import (
    ACTIONS_BUCKETS,
    RASA_BUCKETS,
    Running,
    cpu_seconds,
    load_average,
    percentiles,
    profile_summary,
    profiled,
    rss_mib,
    save,
    services,
)
from bench.latency import FOLLOWUPS, GREETINGS, QUESTIONS, Turn, check, help_form
from common.config import Settings
from common.rasa_client import RasaClient

LEVELS = (10, 20, 50)
DURATION = 40.0
MAX_CONVERSATIONS = 40  # per resident and level
REQUEST_TIMEOUT = 30.0  # the Telegram bridge's RASA_TIMEOUT
TARGET_USERS = 20
TARGET_TPS = 30.0
TARGET_P95_MS = 1000.0
COMMAND = ".venv/bin/python -m bench load"


def conversation(rng: random.Random) -> list[Turn]:
    """One resident's conversation: greeting, 2–3 questions, a follow-up, a form, status."""
    turns = [Turn(rng.choice(GREETINGS), "greet")]
    turns += [Turn(q, "policy") for q in rng.sample(QUESTIONS, rng.randint(2, 3))]
    turns.append(Turn(rng.choice(FOLLOWUPS), "followup"))
    return turns + help_form(rng)


@dataclass
class Tally:
    """What one level produced."""

    samples: list[tuple[str, float]] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    conversations: int = 0
    completed: int = 0
    last_done: float = 0.0

    def error(self, kind: str, detail: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1
        if len(self.examples) < 5:
            self.examples.append(f"{kind}: {detail[:120]}")


async def resident(rasa: RasaClient, index: int, level: int, deadline: float, tally: Tally) -> None:
    """One simulated resident: conversations until the deadline or the conversation cap."""
    rng = random.Random(level * 1000 + index)
    await asyncio.sleep(rng.random())  # spread the first messages over a second
    for n in range(MAX_CONVERSATIONS):
        sender = f"load-{level}-{index}-{n}-{rng.getrandbits(24):06x}"
        tally.conversations += 1
        finished = True
        for turn in conversation(rng):
            if time.monotonic() >= deadline:
                finished = False
                break
            start = time.perf_counter()
            try:
                resp = await rasa.post(sender, turn.text)
            except httpx.TimeoutException:
                tally.error("timeout", turn.text)
                break
            except httpx.HTTPError as exc:
                tally.error("transport", f"{type(exc).__name__} {exc}")
                break
            tally.samples.append((turn.kind, (time.perf_counter() - start) * 1000))
            tally.last_done = time.monotonic()
            if resp.status_code != 200:
                tally.error(f"http_{resp.status_code}", turn.text)
                break
            problem = check(turn, resp.json())
            if problem:
                tally.error("bad_reply", f"{turn.text} → {problem}")
                break
        else:
            tally.completed += 1
        if not finished:
            return


class Sampler:
    """Samples resident memory and CPU of the service processes every second, in a thread."""

    def __init__(self, pids: dict[str, int], period: float = 1.0) -> None:
        self.pids = pids
        self.period = period
        self.rss: dict[str, list[float]] = {name: [] for name in pids}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._cpu0: dict[str, float] = {}
        self._t0 = 0.0

    def _loop(self) -> None:
        while not self._stop.wait(self.period):
            for name, pid in self.pids.items():
                self.rss[name].append(rss_mib(pid))

    def __enter__(self) -> Sampler:
        self._cpu0 = {name: cpu_seconds(pid) for name, pid in self.pids.items()}
        self._t0 = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)
        wall = max(1e-6, time.monotonic() - self._t0)
        self.cpu_cores = {
            name: round((cpu_seconds(pid) - self._cpu0[name]) / wall, 2) for name, pid in self.pids.items()
        }
        for name, pid in self.pids.items():
            self.rss[name].append(rss_mib(pid))

    def memory(self) -> dict:
        return {name: {"max_mib": max(v), "mean_mib": round(sum(v) / len(v), 1)} for name, v in self.rss.items() if v}


async def _level(cfg: Settings, users: int, duration: float) -> tuple[Tally, float]:
    """Residents talking to the Rasa of `cfg` (through the bridge channel, as the bridge does)."""
    tally = Tally()
    start = time.monotonic()
    deadline = start + duration
    rasa = RasaClient.from_settings(cfg, timeout=REQUEST_TIMEOUT, max_connections=users)
    try:
        tasks = [asyncio.create_task(resident(rasa, i, users, deadline, tally)) for i in range(users)]
        # every turn ends within REQUEST_TIMEOUT after the deadline: a hard bound for the level
        done, pending = await asyncio.wait(tasks, timeout=duration + REQUEST_TIMEOUT + 10)
        for task in pending:
            task.cancel()
            tally.error("cancelled", "resident still running at the hard time limit")
    finally:
        await rasa.close()
    return tally, max(1e-6, (tally.last_done or time.monotonic()) - start)


def measure_level(
    running: Running, users: int, duration: float = DURATION, profile: bool = False, label: str = "load"
) -> dict:
    """One load level against running services (with `profile`, py-spy samples both servers)."""
    load_before = load_average()
    pids = running.pids()
    with profiled(pids if profile else {}, f"{label}-{users}") as outs:
        client_cpu0 = time.process_time()
        with Sampler(pids) as sampler:
            tally, elapsed = asyncio.run(_level(running.cfg, users, duration))
    client_cores = round((time.process_time() - client_cpu0) / elapsed, 2)
    turns = len(tally.samples)
    ms = [m for _, m in tally.samples]
    errors = sum(tally.errors.values())
    result = {
        "users": users,
        "seconds": round(elapsed, 1),
        "turns": turns,
        "turns_per_second": round(turns / elapsed, 1),
        "turn_ms": percentiles(ms),
        "policy_ms": percentiles([m for k, m in tally.samples if k in ("policy", "followup")]),
        "form_ms": percentiles([m for k, m in tally.samples if k in ("form", "status")]),
        "conversations_started": tally.conversations,
        "conversations_completed": tally.completed,
        "errors": errors,
        "errors_by_kind": tally.errors,
        "error_examples": tally.examples,
        "cpu_cores": {**sampler.cpu_cores, "client": client_cores},
        "rasa_cpu_ms_per_turn": round(sampler.cpu_cores.get("rasa", 0) * elapsed * 1000 / max(1, turns)),
        "memory": sampler.memory(),
        "load_before": load_before,
        "load_after": load_average(),
    }
    if outs:
        result["profile"] = {
            "rasa": profile_summary(outs["rasa"], RASA_BUCKETS),
            "actions": profile_summary(outs["actions"], ACTIONS_BUCKETS),
        }
    return result


def measure(
    running: Running,
    levels: tuple[int, ...] = LEVELS,
    duration: float = DURATION,
    profile: bool = False,
    label: str = "load",
) -> dict:
    """Every level in turn, against the same running services."""
    results = [measure_level(running, users, duration, profile, label) for users in levels]
    at_target = next((r for r in results if r["users"] == TARGET_USERS), None)
    met = None
    if at_target:
        met = (
            at_target["turns_per_second"] >= TARGET_TPS
            and at_target["turn_ms"].get("p95", 1e9) <= TARGET_P95_MS
            and at_target["errors"] == 0
        )
    return {
        "levels": results,
        "duration_per_level_s": duration,
        "max_conversations_per_resident": MAX_CONVERSATIONS,
        "request_timeout_s": REQUEST_TIMEOUT,
        "target": f"≥ {TARGET_TPS:.0f} turns/s at {TARGET_USERS} users, p95 ≤ {TARGET_P95_MS:.0f} ms, no errors",
        "target_met": met,
        "model": running.model.name if running.model else None,
        "command": COMMAND,
    }


def run(levels: tuple[int, ...] = LEVELS, duration: float = DURATION) -> dict:
    """Start the services in a temporary data folder, warm them up, measure, save."""
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp, services(Path(tmp)) as running:
        warm_up(running)
        result = measure(running, levels, duration)
    save("load", result)
    return result


def warm_up(running: Running, turns: int = 20) -> None:
    """A few conversations' worth of turns, so the first level does not pay for loading."""
    rng = random.Random(0)
    sent = 0
    while sent < turns:
        sender = f"warm-{sent}"
        for turn in conversation(rng):
            running.post(sender, turn.text)
            sent += 1


def markdown(result: dict) -> str:
    """The load table of BENCHMARKS.md."""
    lines = [
        "| users | turns/s | p50 ms | p95 ms | p99 ms | turns | conversations done | errors "
        "| CPU rasa / actions / client (cores) | RSS max rasa / actions (MiB) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in result["levels"]:
        t = r["turn_ms"]
        cpu = r["cpu_cores"]
        mem = r["memory"]
        lines.append(
            f"| {r['users']} | **{r['turns_per_second']}** | {t.get('p50', 0):.0f} | {t.get('p95', 0):.0f} | "
            f"{t.get('p99', 0):.0f} | {r['turns']} | {r['conversations_completed']} | {r['errors']} | "
            f"{cpu.get('rasa', 0)} / {cpu.get('actions', 0)} / {cpu.get('client', 0)} | "
            f"{mem.get('rasa', {}).get('max_mib', 0):.0f} / {mem.get('actions', {}).get('max_mib', 0):.0f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=list(LEVELS))
    parser.add_argument("--duration", type=float, default=DURATION)
    args = parser.parse_args()
    result = run(tuple(args.users), args.duration)
    print(markdown(result))
    print(json.dumps({"target_met": result["target_met"]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
