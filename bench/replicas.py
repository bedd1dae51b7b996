"""Replicas (issue 15): turns/s and p95 at 20 residents with 1 and with 2 Rasa replicas, in the
same run, on the production shape of this machine (launcher/cluster.py: PostgreSQL, Redis,
haproxy, 2 action servers), with the CPU each turn costs.

    .venv/bin/python -m bench replicas

Each level is bench/load.py's residents (the same conversations) through haproxy. CPU per
turn: user + system CPU of every Rasa replica and action server during the level, divided
by the turns. On this 2-core machine two replicas compete for the same two cores with the
action servers, PostgreSQL and the load generator, so the ratio says how well the shape
scales when each replica gets cores of its own only as far as the cores allow.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path

from bench.harness import cpu_seconds, percentiles, save
from bench.load import _level
from common.config import settings
from launcher.cluster import cluster
from launcher.training import ensure_model

USERS = 20
DURATION = 60.0


def measure(replicas: int, users: int = USERS, duration: float = DURATION, cache: str = "auto") -> dict:
    model = ensure_model(settings())
    with (
        tempfile.TemporaryDirectory(prefix="replicas-") as tmp,
        cluster(Path(tmp), model, replicas=replicas, action_servers=2, extra_env={"TRACKER_CACHE": cache}) as c,
    ):
        names = [s.name for s in c.supervisor.services if s.name.startswith(("rasa", "actions"))]
        asyncio.run(_level(c.cfg, 4, 10.0))  # warm-up
        pids = {n: c.pid(n) for n in names}
        cpu0 = {n: cpu_seconds(p) for n, p in pids.items() if p}
        tally, elapsed = asyncio.run(_level(c.cfg, users, duration))
        cpu = sum(cpu_seconds(p) - cpu0[n] for n, p in pids.items() if p and n in cpu0)
    turns = len(tally.samples)
    return {
        "replicas": replicas,
        "users": users,
        "seconds": round(elapsed, 1),
        "turns": turns,
        "turns_per_s": round(turns / elapsed, 1),
        "latency_ms": percentiles([ms for _, ms in tally.samples]),
        "errors": sum(tally.errors.values()),
        "cpu_ms_per_turn": round(1000 * cpu / max(1, turns), 1),
        "tracker_cache": cache,
    }


def run(duration: float = DURATION) -> dict:
    one = measure(1, duration=duration)
    two = measure(2, duration=duration)
    return {
        "one": one,
        "two": two,
        "ratio_turns_per_s": round(two["turns_per_s"] / max(0.1, one["turns_per_s"]), 2),
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
    }


def markdown(result: dict) -> str:
    rows = ["| Rasa replicas | turns/s | p50 ms | p95 ms | errors | CPU ms per turn |", "|---|---|---|---|---|---|"]
    for key in ("one", "two"):
        r = result[key]
        lat = r["latency_ms"]
        rows.append(
            f"| {r['replicas']} | {r['turns_per_s']} | {lat.get('p50', 0):.0f} | {lat.get('p95', 0):.0f} | "
            f"{r['errors']} | {r['cpu_ms_per_turn']} |"
        )
    rows.append(
        f"\n2 replicas / 1 replica: ×{result['ratio_turns_per_s']} turns/s at {result['one']['users']} residents."
    )
    return "\n".join(rows)


def main() -> int:
    result = run()
    save("replicas", result)
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
