"""Start, watch and stop the processes: Rasa server, action server, Telegram bridge."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.config import ROOT, Settings
from launcher.training import child_env, rasa_bin


@dataclass
class Service:
    """One child process, its log file and how to tell it is ready."""

    name: str
    argv: list[str]
    health_url: str | None
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    _pump: threading.Thread | None = field(default=None, repr=False)


def _pump(stream: IO[bytes], log: IO[bytes], prefix: bytes, echo: bool) -> None:
    for line in iter(stream.readline, b""):
        log.write(line)
        log.flush()
        if echo:
            sys.stdout.buffer.write(prefix + line)
            sys.stdout.flush()


def plan(cfg: Settings, model: Path) -> list[Service]:
    """The services to run for this configuration, in start order."""
    py = sys.executable
    services = [
        Service(
            "actions",
            [rasa_bin(), "run", "actions", "--actions", "actions", "-p", str(cfg.actions_port)],
            f"http://{cfg.host}:{cfg.actions_port}/health",
        ),
        Service(
            "rasa",
            [
                py,  # `rasa run` with the two measured fixes (rasa_addons/server.py)
                "-m",
                "rasa_addons.server",
                "run",
                "--enable-api",
                "-i",
                cfg.host,
                "-p",
                str(cfg.rasa_port),
                "-m",
                str(model),
                "--endpoints",
                "endpoints.yml",
                "--credentials",
                "credentials.yml",
                *(["--auth-token", cfg.rasa_token] if cfg.rasa_token else []),
            ],
            f"http://{cfg.host}:{cfg.rasa_port}/",
        ),
    ]
    if cfg.telegram_token:
        services.append(Service("bot", [py, "-m", "bot"], None))
    return services


def wait_ready(url: str, proc: subprocess.Popen, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(url, timeout=2) as resp:  # loopback URL we built
                if resp.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(0.5)
    return False


class Supervisor:
    """Starts the services, waits until each answers, and stops them all on exit."""

    def __init__(self, cfg: Settings, services: list[Service], echo: bool) -> None:
        self.cfg = cfg
        self.services = services
        self.echo = echo

    def start(self, timeout: float = 300.0) -> None:
        logs = self.cfg.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        env = child_env(self.cfg)
        for svc in self.services:
            svc.log_path = logs / f"{svc.name}.out.log"
            log = open(svc.log_path, "ab")  # noqa: SIM115 - closed with the process
            svc.proc = subprocess.Popen(
                svc.argv,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
            svc._pump = threading.Thread(
                target=_pump, args=(svc.proc.stdout, log, f"[{svc.name}] ".encode(), self.echo), daemon=True
            )
            svc._pump.start()
            if svc.health_url and not wait_ready(svc.health_url, svc.proc, timeout):
                self.stop()
                raise RuntimeError(f"{svc.name} did not start; see {svc.log_path}")

    def failed(self) -> Service | None:
        """A service whose process has exited."""
        return next((s for s in self.services if s.proc and s.proc.poll() is not None), None)

    def stop(self, grace: float = 10.0) -> None:
        for svc in reversed(self.services):
            if svc.proc and svc.proc.poll() is None:
                os.killpg(svc.proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + grace
        for svc in self.services:
            if svc.proc:
                try:
                    svc.proc.wait(max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    os.killpg(svc.proc.pid, signal.SIGKILL)
                    svc.proc.wait()
