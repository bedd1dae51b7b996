"""Train the Rasa model only when its inputs changed: the model is named by their hash."""

from __future__ import annotations

import fcntl
import hashlib
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from common.config import ROOT, Settings

# Everything the trained model depends on. Not texts.yml: what the bridge, the staff side
# and the chat say is no part of the model (common/texts.py).
INPUTS = (
    "config.yml",
    "domain.yml",
    "data",
    "knowledge/entries",
    "knowledge/sources",
    "knowledge/ids.yml",
    "knowledge/base.py",
    "knowledge/importer.py",
    "knowledge/nlu.py",
    "knowledge/understanding.py",
    "knowledge/danger.py",
    "knowledge/lexical.py",
    "knowledge/embedding.py",
    "requirements/lock.txt",
)
KEEP_MODELS = 3


def inputs_hash(embedding_model: Path, root: Path = ROOT) -> str:
    """A short hash of every training input under `root` (and of the embedding model's build stamp)."""
    digest = hashlib.sha256()
    for rel in INPUTS:
        path = root / rel
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            if file.suffix in (".pyc",) or "__pycache__" in file.parts:
                continue
            digest.update(str(file.relative_to(root)).encode())
            digest.update(file.read_bytes())
    stamp = embedding_model / ".build-stamp"
    digest.update(stamp.read_bytes() if stamp.is_file() else b"no-model")
    return digest.hexdigest()[:12]


def model_path(cfg: Settings) -> Path:
    return cfg.models_dir / f"xunwu-{inputs_hash(cfg.embedding_model)}.tar.gz"


def child_env(cfg: Settings) -> dict[str, str]:
    """Environment for Rasa processes: offline, quiet TensorFlow, the configuration passed on."""
    env = dict(os.environ)
    env.update(
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TF_CPP_MIN_LOG_LEVEL="2",
        TOKENIZERS_PARALLELISM="false",
        XUNWU_DATA_DIR=str(cfg.data_dir),
        XUNWU_EMBEDDING_MODEL=str(cfg.embedding_model),
        ACTION_ENDPOINT_URL=cfg.actions_url,
        SANIC_HOST=cfg.host,
        RASA_TELEMETRY_ENABLED="false",
        TQDM_DISABLE="1",  # no progress bars in logs
        # One math thread per server: on 2 cores, two servers each spinning two threads
        # cost more CPU per turn under load (bench/latency.py, bench/load.py measured both).
        OMP_NUM_THREADS=env.get("OMP_NUM_THREADS", "1"),
    )
    return env


def rasa_bin() -> str:
    return str(Path(sys.executable).with_name("rasa"))


def ensure_model(cfg: Settings, log: Callable[[str], object] = print) -> Path:
    """The trained model for the current inputs, training it first if it does not exist.

    A lock file serialises training between processes (tests, benchmarks, `make run`), so
    two of them never write the same model at once.
    """
    target = model_path(cfg)
    if target.is_file():
        log(f"模型已是最新，不用重新训练：{target.name}")
        return target
    cfg.models_dir.mkdir(parents=True, exist_ok=True)
    with open(cfg.models_dir / ".train.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_file():  # another process trained it while we waited
            return target
        _train(cfg, target, log)
    return target


def _train(cfg: Settings, target: Path, log: Callable[[str], object]) -> None:
    log(f"训练模型（输入有变化）：{target.name} …")
    started = time.monotonic()
    subprocess.run(
        [
            rasa_bin(),
            "train",
            "--config",
            "config.yml",
            "--domain",
            "domain.yml",
            "--data",
            "data",
            "--out",
            str(cfg.models_dir),
            "--fixed-model-name",
            target.name.removesuffix(".tar.gz"),
        ],
        cwd=ROOT,
        # Rasa's own training cache keys components by their config and data, not their code:
        # a changed knowledge/understanding.py would be skipped. The model name already says
        # when to train (inputs_hash), so Rasa trains everything, with both cores.
        env={**child_env(cfg), "RASA_MAX_CACHE_SIZE": "0", "OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "2")},
        check=True,
        stdout=sys.stderr.fileno(),  # the caller's stdout carries only the model's path
    )
    seconds = time.monotonic() - started
    log(f"训练完成，用时 {seconds:.0f} 秒。")
    (cfg.models_dir / "last-training-seconds").write_text(f"{seconds:.1f}\n")
    old = sorted(cfg.models_dir.glob("xunwu-*.tar.gz"), key=lambda p: p.stat().st_mtime, reverse=True)
    for stale in old[KEEP_MODELS:]:
        stale.unlink(missing_ok=True)
