"""The production shape on one machine (`make cluster`, README "Production"): PostgreSQL for
tickets and conversations, Redis for Rasa's locks, N Rasa replicas (one model, trained
once) and M action servers behind haproxy, and the Telegram bridge(s), all on loopback,
under the launcher's supervisor.

    python -m launcher cluster [--replicas 2] [--action-servers 2] [--bridges 1]

Each service gets the production configuration from its environment: DATABASE_URL,
TRACKER_STORE_URL (PostgreSQL), LOCK_STORE_URL (Redis), RASA_URL and ACTION_SERVER_URL
(haproxy), and the three secrets as variables. The ticket database is migrated once before
the services start, and Rasa's table is created once (`prepare_databases`). A bridge runs
only with TELEGRAM_BOT_TOKEN (or `bridges` > 0 in tests, against a local Bot API).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from common.config import Settings, settings
from launcher.infra import (
    create_database,
    free_port,
    start_haproxy,
    start_postgres,
    start_redis,
    stop_all,
    stop_postgres,
)
from launcher.services import Service, Supervisor, actions_argv, private_data_dir, rasa_argv


@dataclass
class Cluster:
    folder: Path
    cfg: Settings
    supervisor: Supervisor
    rasa_ports: list[int]
    actions_ports: list[int]
    rasa_front: int
    actions_front: int
    env: dict[str, str] = field(default_factory=dict)

    def replica_url(self, i: int) -> str:
        return f"http://127.0.0.1:{self.rasa_ports[i]}"

    @property
    def front_url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_front}"

    def pid(self, name: str) -> int | None:
        svc = self.supervisor.running(name)
        return svc.proc.pid if svc.proc is not None and svc.proc.poll() is None else None

    def wait_loaded(self, timeout: float = 600.0) -> None:
        """Until every replica has loaded its model (GET /status with the API token)."""
        import httpx

        deadline = time.monotonic() + timeout
        token = self.env["RASA_TOKEN"]
        for i in range(len(self.rasa_ports)):
            while True:
                with contextlib.suppress(httpx.HTTPError):
                    if (
                        httpx.get(f"{self.replica_url(i)}/status", params={"token": token}, timeout=5).status_code
                        == 200
                    ):
                        break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"replica {i} did not load its model")
                time.sleep(1.0)


def prepare_databases(tickets_url: str, tracker_url: str) -> None:
    """Migrate the ticket database and create Rasa's events table, once, before the services."""
    import sqlalchemy as sa
    from rasa.core.tracker_store import SQLTrackerStore

    from tickets.migrations import migrate
    from tickets.schema import make_engine

    migrate(make_engine(tickets_url, pool_size=1))
    engine = sa.create_engine(tracker_url)
    SQLTrackerStore.Base.metadata.create_all(engine)
    engine.dispose()


@contextlib.contextmanager
def cluster(
    folder: Path,
    model: Path,
    replicas: int = 2,
    action_servers: int = 2,
    bridges: int = 0,
    extra_env: dict[str, str] | None = None,
    echo: bool = False,
) -> Iterator[Cluster]:
    """Start everything in `folder`; stop it all when the block ends."""
    folder.mkdir(parents=True, exist_ok=True)
    # PostgreSQL runs as the postgres user, which cannot enter a private data folder: its own
    # folder is in /tmp (removed at the end).
    pg_folder = Path(tempfile.mkdtemp(prefix="xunwu-cluster-pg-"))
    saved = dict(os.environ)
    try:
        admin = start_postgres(pg_folder, free_port(), max_connections=100)
        tickets_url = create_database(admin, "tickets")
        tracker_url = create_database(admin, "tracker")
        redis_url = start_redis(folder / "redis", free_port())
        rasa_ports = [free_port() for _ in range(replicas)]
        actions_ports = [free_port() for _ in range(action_servers)]
        rasa_front, actions_front = free_port(), free_port()
        start_haproxy(
            folder / "haproxy",
            {rasa_front: rasa_ports, actions_front: actions_ports},
            {rasa_front: "/", actions_front: "/health"},
        )
        env = {
            "XUNWU_DATA_DIR": str(folder / "data"),
            "XUNWU_HOST": "127.0.0.1",
            "DATABASE_URL": tickets_url,
            "TRACKER_STORE_URL": tracker_url,
            "LOCK_STORE_URL": redis_url,
            "RASA_URL": f"http://127.0.0.1:{rasa_front}",
            "ACTION_SERVER_URL": f"http://127.0.0.1:{actions_front}/webhook",
            "RASA_TOKEN": secrets.token_urlsafe(32),
            "BRIDGE_TOKEN": secrets.token_urlsafe(32),
            "ACTIONS_TOKEN": secrets.token_urlsafe(32),
            "DB_POOL_SIZE": "3",
            **(extra_env or {}),
        }
        os.environ.update(env)
        cfg = settings()
        private_data_dir(cfg)
        prepare_databases(tickets_url, tracker_url)
        services = [
            Service(f"actions-{i + 1}", actions_argv(p), f"http://127.0.0.1:{p}/health")
            for i, p in enumerate(actions_ports)
        ]
        services += [
            Service(f"rasa-{i + 1}", rasa_argv(cfg, model, p), f"http://127.0.0.1:{p}/")
            for i, p in enumerate(rasa_ports)
        ]
        if cfg.telegram_token:
            services += [Service(f"bot-{i + 1}", [sys.executable, "-m", "bot"], None) for i in range(max(1, bridges))]
        supervisor = Supervisor(cfg, services, echo=echo)
        supervisor.start(timeout=600)
        running = Cluster(folder, cfg, supervisor, rasa_ports, actions_ports, rasa_front, actions_front, env)
        try:
            running.wait_loaded()
            yield running
        finally:
            supervisor.stop()
    finally:
        stop_postgres(pg_folder)
        stop_all(folder)
        shutil.rmtree(pg_folder, ignore_errors=True)
        os.environ.clear()
        os.environ.update(saved)


def main(argv: list[str]) -> int:
    import argparse

    from common.config import settings_or_exit
    from launcher.training import ensure_model

    parser = argparse.ArgumentParser(prog="python -m launcher cluster")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--action-servers", type=int, default=2)
    parser.add_argument("--bridges", type=int, default=1)
    args = parser.parse_args(argv)
    cfg = settings_or_exit()
    model = ensure_model(cfg)
    folder = cfg.data_dir / "cluster"
    with cluster(folder, model, args.replicas, args.action_servers, args.bridges, echo=True) as running:
        print(f"集群已启动：Rasa（haproxy）{running.front_url}，副本 {running.rasa_ports}")
        print(f"动作服务 {running.actions_ports}（haproxy :{running.actions_front}）")
        print(f"PostgreSQL、Redis、haproxy 和日志在 {folder}。按 Ctrl-C 停止。", flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            while True:
                time.sleep(1)
    return 0
