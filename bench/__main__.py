"""`python -m bench`: run the benchmarks, write bench/results.json and BENCHMARKS.md.

    .venv/bin/python -m bench                 # everything except the slow parts (make bench)
    .venv/bin/python -m bench --full          # also training and install from a clean state
    .venv/bin/python -m bench latency load    # only these (then the report; also: voice)
    .venv/bin/python -m bench report          # only rewrite BENCHMARKS.md from results.json

Latency, load and footprint share one start of the services. `--env KEY=VALUE` starts the
services with extra environment (e.g. OMP_NUM_THREADS=1); those results are saved under
their own name ("latency [OMP_NUM_THREADS=1]") next to the default ones. `--profile`
samples the servers with py-spy ($PY_SPY or py-spy on PATH) during latency and load; those
results are saved as "latency [sampled by py-spy]", since sampling slows the servers.
XUNWU_BENCH_MODEL=path/to/model.tar.gz benchmarks that model instead of training one.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from bench import (
    footprint,
    latency,
    load,
    quality,
    reliability,
    replicas,
    report,
    speech_bench,
    understanding,
    voice_bench,
)
from bench.harness import parse_env, py_spy, save, services

BENCHES = (
    "understanding",
    "quality",
    "latency",
    "load",
    "speech",
    "voice",
    "footprint",
    "replicas",
    "reliability",
    "report",
)


def _stamp(result: dict, env: dict[str, str]) -> dict:
    result["measured_at"] = time.strftime("%Y-%m-%d %H:%M")
    if env:
        result["service_env"] = env
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("benches", nargs="*", metavar="BENCH", help=" | ".join(BENCHES) + " (default: all)")
    parser.add_argument("--full", action="store_true", help="also --training and --install (adds ~10 minutes)")
    parser.add_argument("--training", action="store_true", help="time model training from a clean state")
    parser.add_argument("--install", action="store_true", help="time scripts/setup.sh from a clean state")
    parser.add_argument("--turns", type=int, default=latency.MEASURED_TURNS, help="latency: measured turns")
    parser.add_argument("--users", type=int, nargs="+", default=list(load.LEVELS), help="load: levels")
    parser.add_argument("--duration", type=float, default=load.DURATION, help="load: seconds per level")
    parser.add_argument("--variants", action="store_true", help="speech: measure opusenc variants even if met")
    parser.add_argument("--profile", action="store_true", help="py-spy the servers during latency and load")
    parser.add_argument("--env", action="append", metavar="KEY=VALUE", help="extra environment for the services")
    args = parser.parse_args(argv)

    unknown = [b for b in args.benches if b not in BENCHES]
    if unknown:
        parser.error(f"unknown benchmark {', '.join(unknown)}; choose from {', '.join(BENCHES)}")
    chosen = args.benches or list(BENCHES)
    env = parse_env(args.env)
    marks = [f"{k}={v}" for k, v in env.items()] + (["sampled by py-spy"] if args.profile else [])
    suffix = f" [{' '.join(marks)}]" if marks else ""  # profiled or --env runs never replace the default
    tag = "".join(f"-{k}={v}" for k, v in env.items())  # in profile file names
    if args.profile and not py_spy():
        parser.error("--profile needs py-spy: set PY_SPY=/path/to/py-spy or put it on PATH")
    training = args.full or args.training
    install = args.full or args.install
    started = time.monotonic()
    if env and {"understanding", "quality", "speech", "voice"} & set(chosen):
        print(
            "== --env applies to the services only: understanding, quality, speech, voice are not run with it",
            flush=True,
        )

    offline = {  # measured without the services, so never with --env
        "understanding": (understanding.run, understanding.markdown_all),
        "quality": (quality.run, quality.markdown),
        "speech": (lambda: speech_bench.run(args.variants), speech_bench.markdown),
        "voice": (voice_bench.run, voice_bench.markdown),
    }
    for name, (run, markdown) in offline.items():
        if name in chosen and not env:
            print(f"== {name}", flush=True)
            result = _stamp(run(), {})
            save(name, result)
            print(markdown(result), flush=True)

    if "replicas" in chosen and not env:
        print("== replicas (1 and 2 Rasa replicas on PostgreSQL, Redis, haproxy)", flush=True)
        result = replicas.run()
        save("replicas", result)
        print(replicas.markdown(result), flush=True)
    if "reliability" in chosen and not env:
        print("== reliability (long form, about half an hour)", flush=True)
        with tempfile.TemporaryDirectory(prefix="reliability-") as tmp:
            result = _stamp(reliability.run(reliability.LONG, Path(tmp)), {})
        save("reliability", result)
        print(reliability.markdown(result), flush=True)

    served = [b for b in ("latency", "load", "footprint") if b in chosen]
    if served:
        os.environ.update(env)
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp, services(Path(tmp)) as running:
            lat_result = load_result = None
            if "latency" in served:
                print("== latency", flush=True)
                measured = latency.measure(running, turns=args.turns, profile=args.profile, label=f"latency{tag}")
                lat_result = _stamp(measured, env)
                save("latency" + suffix, lat_result)
                print(latency.markdown(lat_result), flush=True)
            else:
                load.warm_up(running)
            after_warmup = footprint.memory_now(running)
            if "load" in served or "footprint" in served:
                print("== load", flush=True)
                levels = tuple(args.users) if "load" in served else (20,)
                duration = args.duration if "load" in served else 20.0
                measured = load.measure(running, levels, duration, profile=args.profile, label=f"load{tag}")
                load_result = _stamp(measured, env)
                if "load" in served:
                    save("load" + suffix, load_result)
                print(load.markdown(load_result), flush=True)
        if "footprint" in served:
            print("== footprint", flush=True)
            fp = footprint.combine(
                after_warmup,
                load_result,
                footprint.training_time() if training else None,
                footprint.install_time() if install else None,
            )
            save("footprint" + suffix, _stamp(fp, env))
            print(footprint.markdown(fp), flush=True)

    path = report.write()
    print(f"== wrote {path} (from bench/results.json) in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
