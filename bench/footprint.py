"""Footprint: resident memory of each process, model training time, install time.

`.venv/bin/python -m bench footprint [--training] [--install]`

- Memory: VmRSS from /proc/<pid>/status of the Rasa server and of the action server, each
  with its child processes, after warm-up, and sampled every second under load (the
  load benchmark's levels; run alone, this module runs one level of 20 residents).
- Training (opt-in, minutes): `launcher.training.ensure_model` into an empty temporary
  XUNWU_MODELS_DIR with Rasa's training cache pointed at an empty directory
  (RASA_CACHE_DIRECTORY), in a child process; also its peak RSS.
- Install (opt-in, minutes): `scripts/setup.sh` into an empty temporary venv
  (XUNWU_VENV) with an empty pip cache (PIP_CACHE_DIR), then the embedding model build
  into an empty folder. Debian packages are already installed on a machine that ran
  setup once; pip's indexes are the machine's own configuration (see `pip config list`).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.harness import RESULTS, Running, load_average, process_tree, rss_mib, save, services
from common.config import ROOT

COMMAND = ".venv/bin/python -m bench footprint"
TRAIN_TIMEOUT = 3600
INSTALL_TIMEOUT = 3600

_TRAIN_CHILD = """
import resource, sys, time
from common.config import settings
from launcher.training import ensure_model
start = time.monotonic()
model = ensure_model(settings())
print("BENCH", time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, model)
"""


def memory_now(running: Running) -> dict:
    """RSS (MiB) of each service with its children, and how many processes that is."""
    return {
        name: {"rss_mib": rss_mib(pid), "processes": len(process_tree(pid))} for name, pid in running.pids().items()
    }


def _previous() -> dict:
    if RESULTS.is_file():
        return json.loads(RESULTS.read_text(encoding="utf-8")).get("footprint", {})
    return {}


def _du_mib(path: Path) -> float:
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 1024 / 1024, 1)


def _logged_run(cmd: list[str], env: dict[str, str], log: Path, timeout: float) -> tuple[int, float]:
    """Run `cmd` in the project root with its output in `log`; (return code, wall seconds)."""
    start = time.monotonic()
    with log.open("wb") as out:
        proc = subprocess.run(
            cmd, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, timeout=timeout, check=False
        )
    return proc.returncode, time.monotonic() - start


def training_time() -> dict:
    """Train the model from a clean state (no model, empty Rasa cache) and time it."""
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        env = dict(os.environ)
        env.update(
            XUNWU_MODELS_DIR=f"{tmp}/models",
            RASA_CACHE_DIRECTORY=f"{tmp}/rasa-cache",
        )
        log = Path(tmp) / "train.log"
        load_before = load_average()
        returncode, wall = _logged_run([sys.executable, "-c", _TRAIN_CHILD], env, log, TRAIN_TIMEOUT)
        text = log.read_text(errors="replace")
        line = next((ln for ln in text.splitlines() if ln.startswith("BENCH ")), "")
        if returncode != 0 or not line:
            return {"ok": False, "error": text[-1500:], "seconds": round(wall, 1)}
        _, seconds, maxrss_kb, model = line.split(" ", 3)
        written = (Path(tmp) / "models" / "last-training-seconds").read_text().strip()
        return {
            "ok": True,
            "seconds": round(float(seconds), 1),
            "last_training_seconds_file": float(written),
            "peak_rss_mib": round(int(maxrss_kb) / 1024),
            "model_mib": round(Path(model).stat().st_size / 1024 / 1024, 1),
            "clean_state": "empty XUNWU_MODELS_DIR and empty RASA_CACHE_DIRECTORY (temporary); "
            "the OS file cache and jieba's /tmp/jieba.cache may be warm",
            "load_before": load_before,
            "load_after": load_average(),
            "measured_at": time.strftime("%Y-%m-%d %H:%M"),
            "command": f"{COMMAND} --training",
        }


def install_time() -> dict:
    """scripts/setup.sh into an empty venv with an empty pip cache, then the embedding model build."""
    with tempfile.TemporaryDirectory(prefix="bench-install-") as tmp:
        venv = Path(tmp) / "venv"
        env = dict(os.environ)
        env.update(XUNWU_VENV=str(venv), PIP_CACHE_DIR=f"{tmp}/pip-cache")
        log = Path(tmp) / "setup.log"
        load_before = load_average()
        returncode, setup_s = _logged_run(["bash", "scripts/setup.sh"], env, log, INSTALL_TIMEOUT)
        if returncode != 0:
            return {"ok": False, "error": log.read_text(errors="replace")[-1500:], "seconds": round(setup_s, 1)}
        start = time.monotonic()
        build = subprocess.run(
            [str(venv / "bin" / "python"), "scripts/build_embedding_model.py", "--out", f"{tmp}/e5", "--quiet"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=INSTALL_TIMEOUT,
            check=False,
        )
        model_s = time.monotonic() - start
        pip_cache = Path(tmp) / "pip-cache"
        return {
            "ok": build.returncode == 0,
            "setup_seconds": round(setup_s, 1),
            "embedding_model_seconds": round(model_s, 1),
            "total_seconds": round(setup_s + model_s, 1),
            "venv_mib": _du_mib(venv),
            "pip_cache_after_mib": _du_mib(pip_cache) if pip_cache.is_dir() else 0.0,
            "clean_state": "empty venv (XUNWU_VENV) and empty pip cache (PIP_CACHE_DIR); Debian packages already "
            "installed; packages come from this machine's pip configuration (`pip config list`: local wheel folders "
            "and indexes); the embedding model "
            "timed separately into an empty folder",
            "load_before": load_before,
            "load_after": load_average(),
            "measured_at": time.strftime("%Y-%m-%d %H:%M"),
            "command": f"{COMMAND} --install",
        }


def combine(after_warmup: dict, load_result: dict | None, training: dict | None, install: dict | None) -> dict:
    """The footprint result; training and install keep their last measured values when not re-run."""
    previous = _previous()
    under_load = {}
    for level in (load_result or {}).get("levels", []):
        under_load[str(level["users"])] = {name: m["max_mib"] for name, m in level.get("memory", {}).items()}
    return {
        "memory_after_warmup": after_warmup,
        "memory_under_load_max_mib": under_load,
        "training": training or previous.get("training"),
        "install": install or previous.get("install"),
        "measured_at": time.strftime("%Y-%m-%d %H:%M"),
        "command": COMMAND,
    }


def run(training: bool = False, install: bool = False) -> dict:
    """Memory (own services, warm-up, one load level of 20), then the opt-in slow parts."""
    from bench import load

    with tempfile.TemporaryDirectory(prefix="bench-footprint-") as tmp, services(Path(tmp)) as running:
        load.warm_up(running)
        after = memory_now(running)
        level = load.measure_level(running, 20, 20.0)
    result = combine(
        after, {"levels": [level]}, training_time() if training else None, install_time() if install else None
    )
    save("footprint", result)
    return result


def markdown(result: dict) -> str:
    """The footprint table of BENCHMARKS.md."""
    lines = ["| figure | Rasa server | action server |", "|---|---|---|"]
    warm = result.get("memory_after_warmup", {})
    lines.append(
        f"| RSS after warm-up (MiB) | {warm.get('rasa', {}).get('rss_mib', '–')} | "
        f"{warm.get('actions', {}).get('rss_mib', '–')} |"
    )
    for users, mem in result.get("memory_under_load_max_mib", {}).items():
        lines.append(
            f"| RSS max under load, {users} residents (MiB) | {mem.get('rasa', '–')} | {mem.get('actions', '–')} |"
        )
    lines += ["", "| slow figure | value | measured | how |", "|---|---|---|---|"]
    t = result.get("training")
    if t and t.get("ok"):
        lines.append(
            f"| model training, clean state | **{t['seconds']:.0f} s** (peak RSS {t['peak_rss_mib']} MiB, "
            f"model {t['model_mib']} MiB) | {t['measured_at']}, load {t['load_before']['1m']} | {t['clean_state']} |"
        )
    else:
        lines.append(f"| model training, clean state | not measured (`{COMMAND} --training`) | | |")
    i = result.get("install")
    if i and i.get("ok"):
        lines.append(
            f"| install, clean state | **{i['total_seconds']:.0f} s** = setup.sh {i['setup_seconds']:.0f} s + "
            f"embedding model {i['embedding_model_seconds']:.0f} s (venv {i['venv_mib']:.0f} MiB) | "
            f"{i['measured_at']}, load {i['load_before']['1m']} | {i['clean_state']} |"
        )
    else:
        lines.append(f"| install, clean state | not measured (`{COMMAND} --install`) | | |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--training", action="store_true", help="also time training from a clean state")
    parser.add_argument("--install", action="store_true", help="also time the install from a clean state")
    args = parser.parse_args()
    print(markdown(run(args.training, args.install)))


if __name__ == "__main__":
    main()
