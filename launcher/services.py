"""Start, watch and stop the processes: Rasa server, action server, Telegram bridge.

The `Supervisor` starts each service and waits until it answers, then watches them: a
process that dies is started again (after 1 s, then 2, 4 … up to 60 s while it keeps
dying; the delay starts over once it has run for RESTART_STABLE_SECONDS), with a log line
each time, and when one has died RESTART_ALERT_COUNT times within RESTART_WINDOW_SECONDS
the staff group is told (an outbox row, delivered by the bridge). The others keep
running: one crash never takes the service down.

Every line a child prints goes to `<data>/logs/<name>.out.log` through common.logs.mask
(phones, tokens), rotated by size (LOG_MAX_BYTES, LOG_BACKUPS). Files are created private
(umask 077, data folder 0700), and the internal secrets are made once into
`<data>/secrets/` (common/secrets.py); none is passed on a command line.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from common.config import ROOT, Settings
from common.logs import mask
from launcher.training import child_env

log = logging.getLogger(__name__)

RESTART_FIRST_DELAY = 1.0
RESTART_MAX_DELAY = 60.0
RESTART_STABLE_SECONDS = 300.0
RESTART_WINDOW_SECONDS = 600.0
RESTART_ALERT_COUNT = 3
ALERT_EVERY_SECONDS = 3600.0
WATCH_SECONDS = 0.5


class RotatingLog:
    """A log file of lines (bytes), masked, rotated at `max_bytes` keeping `backups` old files."""

    def __init__(self, path: Path, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self.backups = backups
        self._lock = threading.Lock()
        self._out = open(path, "ab")  # noqa: SIM115 - closed in close()

    def write(self, line: bytes) -> bytes:
        """Write one line (masked); the masked line."""
        masked = mask(line.decode("utf-8", "replace")).encode("utf-8")
        with self._lock:
            if self._out.tell() + len(masked) > self.max_bytes:
                self._rotate()
            self._out.write(masked)
            self._out.flush()
        return masked

    def _rotate(self) -> None:
        self._out.close()
        for i in range(self.backups - 1, 0, -1):
            older = self.path.with_name(f"{self.path.name}.{i}")
            if older.exists():
                older.replace(self.path.with_name(f"{self.path.name}.{i + 1}"))
        self.path.replace(self.path.with_name(f"{self.path.name}.1"))
        self._out = open(self.path, "ab")  # noqa: SIM115

    def close(self) -> None:
        with self._lock:
            self._out.close()


@dataclass
class Service:
    """One child process, its log file, how to tell it is ready, and its restarts."""

    name: str
    argv: list[str]
    health_url: str | None
    env: dict[str, str] = field(default_factory=dict)
    proc: subprocess.Popen | None = None
    log_path: Path | None = None
    started_at: float = 0.0
    restarts: deque[float] = field(default_factory=deque)
    next_delay: float = RESTART_FIRST_DELAY
    restart_at: float | None = None
    last_alert: float = float("-inf")
    exits: int = 0  # how often it died (since start)
    _log: RotatingLog | None = field(default=None, repr=False)
    _pump: threading.Thread | None = field(default=None, repr=False)


def _pump(stream: IO[bytes], out: RotatingLog, prefix: bytes, echo: bool) -> None:
    for line in iter(stream.readline, b""):
        masked = out.write(line)
        if echo:
            sys.stdout.buffer.write(prefix + masked)
            sys.stdout.flush()


def rasa_argv(cfg: Settings, model: Path, port: int | None = None) -> list[str]:
    """`rasa run` with the two measured fixes (rasa_addons/server.py); the API token is added there."""
    return [
        sys.executable,
        "-m",
        "rasa_addons.server",
        "run",
        "-i",
        cfg.host,
        "-p",
        str(port or cfg.rasa_port),
        "-m",
        str(model),
        "--endpoints",
        "endpoints.yml",
        "--credentials",
        "credentials.yml",
    ]


def actions_argv(port: int | None = None) -> list[str]:
    """The action server that only Rasa may call (rasa_addons/action_server.py)."""
    return [sys.executable, "-m", "rasa_addons.action_server", *(["--port", str(port)] if port else [])]


def plan(cfg: Settings, model: Path) -> list[Service]:
    """The services to run for this configuration, in start order."""
    services = [
        Service("actions", actions_argv(), f"http://{cfg.host}:{cfg.actions_port}/health"),
        Service("rasa", rasa_argv(cfg, model), f"http://{cfg.host}:{cfg.rasa_port}/"),
    ]
    if cfg.telegram_token:
        services.append(Service("bot", [sys.executable, "-m", "bot"], None))
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


def private_data_dir(cfg: Settings) -> None:
    """The data folder and what the services put in it are readable by this user only."""
    os.umask(0o077)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(cfg.data_dir, 0o700)
    (cfg.data_dir / "logs").mkdir(exist_ok=True)
    os.chmod(cfg.data_dir / "logs", 0o700)


class Supervisor:
    """Starts the services, waits until each answers, restarts any that dies, stops them all on exit."""

    def __init__(
        self,
        cfg: Settings,
        services: list[Service],
        echo: bool,
        alert: Callable[[Service, int], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self.services = services
        self.echo = echo
        self.alert = alert if alert is not None else self._alert_staff
        self._stopping = threading.Event()
        self._watcher: threading.Thread | None = None
        self._lock = threading.Lock()

    # -- start -------------------------------------------------------------------------------
    def start(self, timeout: float = 300.0, watch: bool = True) -> None:
        from common.secrets import ensure_secrets

        private_data_dir(self.cfg)
        ensure_secrets(self.cfg)
        for svc in self.services:
            self._spawn(svc)
            if svc.health_url and not wait_ready(svc.health_url, svc.proc, timeout):
                self.stop()
                raise RuntimeError(f"{svc.name} did not start; see {svc.log_path}")
        if watch:
            self._watcher = threading.Thread(target=self._watch, name="supervisor", daemon=True)
            self._watcher.start()

    def _spawn(self, svc: Service) -> None:
        logs = self.cfg.data_dir / "logs"
        logs.mkdir(parents=True, exist_ok=True)
        svc.log_path = logs / f"{svc.name}.out.log"
        if svc._log is None:
            svc._log = RotatingLog(svc.log_path, self.cfg.log_max_bytes, self.cfg.log_backups)
        svc.proc = subprocess.Popen(
            svc.argv,
            cwd=ROOT,
            env={**child_env(self.cfg), **svc.env},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        svc.started_at = time.monotonic()
        svc._pump = threading.Thread(
            target=_pump, args=(svc.proc.stdout, svc._log, f"[{svc.name}] ".encode(), self.echo), daemon=True
        )
        svc._pump.start()

    # -- watch ---------------------------------------------------------------------------------
    def _watch(self) -> None:
        while not self._stopping.wait(WATCH_SECONDS):
            with self._lock:
                if self._stopping.is_set():
                    return
                for svc in self.services:
                    self.check(svc)

    def check(self, svc: Service, now: float | None = None) -> None:
        """Restart `svc` if it died (once its delay has passed)."""
        now = time.monotonic() if now is None else now
        if svc.proc is None:
            return
        if svc.restart_at is None:
            code = svc.proc.poll()
            if code is None:
                if now - svc.started_at > RESTART_STABLE_SECONDS:
                    svc.next_delay = RESTART_FIRST_DELAY
                return
            while svc.restarts and now - svc.restarts[0] > RESTART_WINDOW_SECONDS:
                svc.restarts.popleft()
            svc.restarts.append(now)
            svc.exits += 1
            svc.restart_at = now + svc.next_delay
            message = (
                f"{svc.name} exited with status {code}; restarting in {svc.next_delay:.0f} s "
                f"({len(svc.restarts)} in the last {RESTART_WINDOW_SECONDS / 60:.0f} min)"
            )
            log.error(message)
            self._note(svc, message)
            print(f"[supervisor] {message}", file=sys.stderr, flush=True)
            svc.next_delay = min(RESTART_MAX_DELAY, svc.next_delay * 2)
            if len(svc.restarts) >= RESTART_ALERT_COUNT and now - svc.last_alert > ALERT_EVERY_SECONDS:
                svc.last_alert = now
                try:
                    self.alert(svc, len(svc.restarts))
                except Exception:  # the alert must never stop the supervision
                    log.exception("could not queue the staff alert for %s", svc.name)
            return
        if now >= svc.restart_at:
            svc.restart_at = None
            self._spawn(svc)
            svc.started_at = now
            self._note(svc, f"{svc.name} started again (pid {svc.proc.pid})")

    def _note(self, svc: Service, message: str) -> None:
        if svc._log is not None:
            svc._log.write(f"[supervisor] {time.strftime('%Y-%m-%d %H:%M:%S')} {message}\n".encode())

    def _alert_staff(self, svc: Service, count: int) -> None:
        from tickets.store import store_for

        minutes = int(RESTART_WINDOW_SECONDS / 60)
        store_for(self.cfg.database_url).outbox.alert(
            "utter_staff_alert_service", service=svc.name, count=count, minutes=minutes
        )

    def failed(self) -> Service | None:
        """A service whose process has exited and is not being restarted."""
        return next((s for s in self.services if s.proc and s.proc.poll() is not None and s.restart_at is None), None)

    def running(self, name: str) -> Service:
        return next(s for s in self.services if s.name == name)

    # -- stop ------------------------------------------------------------------------------------
    def stop(self, grace: float = 10.0) -> None:
        self._stopping.set()
        with self._lock:
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
                    if svc._pump is not None:
                        svc._pump.join(5)
                if svc._log is not None:
                    svc._log.close()
                    svc._log = None
