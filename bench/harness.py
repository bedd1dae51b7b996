"""Shared pieces of the benchmarks: running services, HTTP helpers, machine facts, results."""

from __future__ import annotations

import gzip
import json
import os
import platform
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from common.config import ROOT, Settings, settings
from common.rasa_client import RasaClient
from common.secrets import read_secret
from launcher.infra import free_port

RESULTS = ROOT / "bench" / "results.json"


@dataclass
class Running:
    """Services started for a benchmark."""

    cfg: Settings
    supervisor: object
    model: Path | None = None

    def __post_init__(self) -> None:
        self.rasa = RasaClient.from_settings(self.cfg, timeout=60)

    def post(self, sender: str, text: str) -> list[dict]:
        return self.rasa.send_sync(sender, text, empty_ok=True)

    def tracker(self, sender: str) -> dict:
        return self.rasa.tracker_sync(sender)

    def pids(self) -> dict[str, int]:
        """The process id of each running service ("rasa", "actions"), by name."""
        return {
            svc.name: svc.proc.pid
            for svc in getattr(self.supervisor, "services", [])
            if svc.proc is not None and svc.proc.poll() is None
        }


# Set to a trained model file to benchmark it instead of the one for the current inputs
# (skips training; results record which model was used).
BENCH_MODEL_ENV = "XUNWU_BENCH_MODEL"


def bench_model() -> Path | None:
    """The model named by XUNWU_BENCH_MODEL, if set."""
    value = os.environ.get(BENCH_MODEL_ENV, "").strip()
    return Path(value).resolve() if value else None


@contextmanager
def services(data_dir: Path, model: Path | None = None) -> Iterator[Running]:
    """Train if needed, then start the Rasa and action servers on free loopback ports.

    `model` (or the XUNWU_BENCH_MODEL environment variable) picks a trained model instead.
    """
    from launcher.services import Supervisor, plan
    from launcher.training import ensure_model

    os.environ.update(
        XUNWU_DATA_DIR=str(data_dir),
        RASA_PORT=str(free_port()),
        ACTIONS_PORT=str(free_port()),
        TELEGRAM_BOT_TOKEN="",
        RASA_TOKEN="",
        XUNWU_HOST="127.0.0.1",
    )
    os.environ.pop("DATABASE_URL", None)
    cfg = settings()
    model = model or bench_model() or ensure_model(cfg)
    supervisor = Supervisor(cfg, plan(cfg, model), echo=False)
    supervisor.start(timeout=300)
    try:
        wait_for_agent(cfg, supervisor)
        yield Running(cfg, supervisor, model)
    finally:
        supervisor.stop()


def wait_for_agent(cfg: Settings, supervisor: object, timeout: float = 300.0) -> None:
    """Wait until Rasa has loaded the model (`GET /status` is 200); its `/` answers before that.

    Raises RuntimeError with the end of Rasa's log when the model cannot be loaded.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            url = f"{cfg.rasa_url}/status?token={urllib.parse.quote(read_secret(cfg, 'rasa_token'))}"
            with urllib.request.urlopen(url, timeout=5) as resp:  # loopback, a URL we built
                if resp.status == 200:
                    return
        except OSError:
            pass
        log = next((s.log_path for s in getattr(supervisor, "services", []) if s.name == "rasa"), None)
        text = log.read_text(errors="replace") if log and log.is_file() else ""
        if "Could not load model" in text:
            raise RuntimeError("Rasa could not load the model:\n" + text[-1500:])
        time.sleep(1.0)
    raise RuntimeError(f"Rasa did not load the model within {timeout:.0f} s")


def machine() -> dict:
    """The facts a reader needs to compare numbers."""
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f"{mem_kb / 1024 / 1024:.0f} GiB"
    except (OSError, ValueError, IndexError):
        pass
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    dirty = subprocess.run(["git", "status", "--porcelain"], cwd=ROOT, capture_output=True, text=True)
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "commit": commit.stdout.strip(),
        "uncommitted_changes": bool(dirty.stdout.strip()),
        "date": time.strftime("%Y-%m-%d %H:%M"),
    }


def load_average() -> dict:
    """The machine's load right now (1, 5, 15 minutes), as `uptime` shows it."""
    one, five, fifteen = os.getloadavg()
    return {"1m": round(one, 2), "5m": round(five, 2), "15m": round(fifteen, 2), "cores": os.cpu_count()}


def percentiles(values: list[float], points: tuple[int, ...] = (50, 95, 99)) -> dict[str, float]:
    """Nearest-rank percentiles (and n, mean, max) of `values`, in the same unit."""
    if not values:
        return {"n": 0}
    ordered = sorted(values)
    out: dict[str, float] = {"n": len(ordered)}
    for p in points:
        rank = max(1, -(-p * len(ordered) // 100))  # ceil(p/100 * n), at least 1
        out[f"p{p}"] = round(ordered[rank - 1], 2)
    out["mean"] = round(sum(ordered) / len(ordered), 2)
    out["max"] = round(ordered[-1], 2)
    return out


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (from /proc/*/stat)."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        todo.extend(children.get(current, []))
    return out


def rss_mib(pid: int) -> float:
    """Resident memory (VmRSS) of `pid` and its descendants, in MiB; 0 if it is gone."""
    total_kb = 0
    for p in process_tree(pid):
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
                    break
        except (OSError, ValueError):
            continue
    return round(total_kb / 1024, 1)


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by `pid` and its descendants."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    for p in process_tree(pid):
        try:
            text = Path(f"/proc/{p}/stat").read_text()
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / ticks


def save(name: str, result: dict) -> None:
    """Merge one benchmark's result into bench/results.json."""
    data = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.is_file() else {}
    data[name] = result
    data["machine"] = machine()
    RESULTS.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")


# --------------------------------------------------------------------------- profiles

PROFILES = ROOT / "bench" / "profiles"
# What a turn's time is spent on in the Rasa server, by a frame name found in the stack.
RASA_BUCKETS = {
    "whole message (Agent.handle_message)": "Agent.handle_message",
    "NLU parse (all components)": "MessageProcessor.parse_message",
    "… knowledge step (KnowledgeRanker)": "KnowledgeRanker.process",
    "… … sentence embedding (e5-small, torch)": "Embedder.encode",
    "… DIET classifier (TensorFlow)": "DIETClassifier.process",
    "… jieba tokenizer": "JiebaTokenizer.process",
    "dialogue policies (rules)": "_predict_next_with_tracker",
    "action calls to the action server": "RemoteAction.run",
    "tracker store: read": "TrackerStore.retrieve",
    "tracker store: write": "TrackerStore.save",
    "event validation (jsonschema)": "Validator.iter_errors",
}
ACTIONS_BUCKETS = {
    "action request (rasa_sdk webhook)": "ActionExecutor.run",
    "ticket store (SQLAlchemy)": "tickets/store.py",
    "answer building (actions/answer.py)": "actions/answer.py",
    "help form (actions/help_form.py)": "actions/help_form.py",
}


def py_spy() -> str | None:
    """The py-spy executable: $PY_SPY, else py-spy on PATH, else None."""
    import shutil

    found = os.environ.get("PY_SPY") or shutil.which("py-spy")
    return found if found and Path(found).is_file() else None


@contextmanager
def profiled(pids: dict[str, int], label: str, rate: int = 50) -> Iterator[dict[str, Path]]:
    """Sample each process with py-spy (raw collapsed stacks) while the block runs.

    Yields {name: output path} (.txt.gz, written when the block ends; empty when py-spy is missing).
    Needs ptrace rights on the pids.
    """
    import signal

    exe = py_spy()
    if exe is None:
        yield {}
        return
    PROFILES.mkdir(parents=True, exist_ok=True)
    outs = {name: PROFILES / f"{label}-{name}.txt" for name in pids}
    gzipped = {name: path.with_name(path.name + ".gz") for name, path in outs.items()}
    procs = [
        subprocess.Popen(
            [exe, "record", "-p", str(pid), "-r", str(rate), "-f", "raw", "-o", str(outs[name]), "--nonblocking"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
    ]
    time.sleep(1.0)  # let py-spy attach before the measured work starts
    try:
        yield gzipped
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGINT)
        for proc in procs:
            try:
                proc.wait(60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for name, path in outs.items():  # raw stacks are large: keep them gzipped
            if path.is_file():
                gzipped[name].write_bytes(gzip.compress(path.read_bytes()))
                path.unlink()


def profile_summary(path: Path, buckets: dict[str, str], rate: int = 50, top: int = 12) -> dict:
    """Share of sampled (non-idle) time under each bucket's frame, and the top self-time frames."""
    import re

    if not path.is_file():
        return {}
    raw = path.read_bytes()
    text = (gzip.decompress(raw) if path.suffix == ".gz" else raw).decode(errors="replace")
    total = 0
    inclusive = dict.fromkeys(buckets, 0)
    leaf: dict[str, int] = {}
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        for label, needle in buckets.items():
            if needle in stack:
                inclusive[label] += n
        frame = re.sub(r":\d+\)$", ")", stack.rsplit(";", 1)[-1])
        leaf[frame] = leaf.get(frame, 0) + n
    if not total:
        return {"samples": 0}
    pct = {k: round(100 * v / total, 1) for k, v in inclusive.items()}
    self_top = sorted(leaf.items(), key=lambda kv: -kv[1])[:top]
    return {
        "samples": total,
        "busy_seconds": round(total / rate, 1),
        "share_percent": pct,
        "top_self_percent": [[round(100 * v / total, 1), k] for k, v in self_top],
        "raw": str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path),
    }


def parse_env(pairs: list[str] | None) -> dict[str, str]:
    """KEY=VALUE strings (for the services' environment) as a dict."""
    out = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise ValueError(f"expected KEY=VALUE, got {pair!r}")
        out[key] = value
    return out
