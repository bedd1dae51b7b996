"""Throwaway servers on loopback for the PostgreSQL test lane and the local cluster: PostgreSQL,
Redis and haproxy from Debian, installed with apt-get when missing, run from a folder of
their own (nothing of the system's services is used or changed).

    python -m launcher.infra postgres DIR PORT   # start; prints the admin URL
    python -m launcher.infra stop DIR            # stop whatever was started in DIR

PostgreSQL refuses to run as root: as root its files belong to the `postgres` user the
Debian package creates and it runs as that user (runuser). Trust authentication on
127.0.0.1 only, a socket in DIR; `fast` adds fsync=off (tests: nothing survives them anyway).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

APT_ENV = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}


def ensure_packages(*packages: str) -> None:
    """apt-get install the Debian packages that are missing (once `apt-get update` if needed)."""
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    print(f"[infra] installing {' '.join(missing)} (apt-get)", flush=True)
    done = subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *missing], env=APT_ENV)
    if done.returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=APT_ENV, check=True)
        subprocess.run([*sudo, "apt-get", "install", "-y", "-q", *missing], env=APT_ENV, check=True)


def _pg_bin() -> Path:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]))
    if not found:
        raise RuntimeError("PostgreSQL's initdb was not found after installing postgresql")
    return Path(found[-1]).parent


def _as_owner(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise RuntimeError(f"nothing answers on 127.0.0.1:{port}")


def start_postgres(folder: Path, port: int, fast: bool = False, max_connections: int = 100) -> str:
    """A PostgreSQL server in `folder` on 127.0.0.1:`port`; its admin URL (user xunwu, no password)."""
    ensure_packages("postgresql")
    bin_dir = _pg_bin()
    folder.mkdir(parents=True, exist_ok=True)
    data = folder / "pgdata"
    if os.geteuid() == 0:
        shutil.chown(folder, "postgres")
        os.chmod(folder, 0o700)
    if not (data / "PG_VERSION").exists():
        subprocess.run(
            _as_owner([str(bin_dir / "initdb"), "-D", str(data), "-U", "xunwu", "-A", "trust", "-E", "UTF8", "-N"]),
            check=True,
            stdout=subprocess.DEVNULL,
        )
    options = f"-p {port} -k {folder} -c listen_addresses=127.0.0.1 -c max_connections={max_connections}"
    if fast:
        options += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    subprocess.run(
        _as_owner([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(folder / "log"), "-o", options, "-w", "start"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    (folder / "started").write_text("postgres\n")
    return f"postgresql://xunwu@127.0.0.1:{port}/postgres"


def stop_postgres(folder: Path) -> None:
    data = folder / "pgdata"
    if (data / "postmaster.pid").exists():
        subprocess.run(
            _as_owner([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"]),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )


def restart_postgres(folder: Path) -> None:
    """Stop and start again (the same port and options): what a server restart under load looks like."""
    data = folder / "pgdata"
    subprocess.run(
        _as_owner([str(_pg_bin() / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "restart"]),
        check=True,
        stdout=subprocess.DEVNULL,
    )


def create_database(admin_url: str, name: str) -> str:
    """CREATE DATABASE `name` (if missing); its URL."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    engine = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if not conn.execute(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}).first():
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def start_redis(folder: Path, port: int) -> str:
    """A Redis server in `folder` on 127.0.0.1:`port` (no persistence: locks only); its URL."""
    ensure_packages("redis-server")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [
            "redis-server",
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--daemonize",
            "yes",
            "--dir",
            str(folder),
            "--pidfile",
            str(folder / "redis.pid"),
            "--logfile",
            str(folder / "redis.log"),
        ],
        check=True,
    )
    wait_port(port)
    return f"redis://127.0.0.1:{port}/1"


def haproxy_config(listen: dict[int, list[int]], check_paths: dict[int, str]) -> str:
    """An haproxy configuration: each front port → round robin over its back ports (health-checked)."""
    lines = [
        "global",
        "    maxconn 2000",
        "defaults",
        "    mode http",
        "    timeout connect 5s",
        "    timeout client 120s",
        "    timeout server 120s",
        "    retries 2",
        "    option redispatch",
    ]
    for front, backs in listen.items():
        lines += [f"frontend f{front}", f"    bind 127.0.0.1:{front}", f"    default_backend b{front}"]
        lines += [f"backend b{front}", "    balance roundrobin", f"    option httpchk GET {check_paths[front]}"]
        lines += [f"    server s{port} 127.0.0.1:{port} check inter 1s fall 2 rise 1" for port in backs]
    return "\n".join(lines) + "\n"


def start_haproxy(folder: Path, listen: dict[int, list[int]], check_paths: dict[int, str]) -> None:
    ensure_packages("haproxy")
    folder.mkdir(parents=True, exist_ok=True)
    config = folder / "haproxy.cfg"
    config.write_text(haproxy_config(listen, check_paths))
    subprocess.run(["haproxy", "-f", str(config), "-D", "-p", str(folder / "haproxy.pid")], check=True)
    for front in listen:
        wait_port(front)


def _kill_pidfile(path: Path) -> None:
    import signal

    if not path.is_file():
        return
    for pid in path.read_text().split():
        try:
            os.kill(int(pid), signal.SIGTERM)
        except (ProcessLookupError, ValueError):
            pass
    path.unlink(missing_ok=True)


def stop_all(folder: Path) -> None:
    """Stop the servers started in `folder` (PostgreSQL, Redis, haproxy)."""
    stop_postgres(folder / "postgres")
    _kill_pidfile(folder / "redis" / "redis.pid")
    _kill_pidfile(folder / "haproxy" / "haproxy.pid")


def main(argv: list[str]) -> int:
    if argv[:1] == ["postgres"] and len(argv) == 3:
        print(start_postgres(Path(argv[1]), int(argv[2]), fast=True))
        return 0
    if argv[:1] == ["stop"] and len(argv) == 2:
        folder = Path(argv[1])
        stop_postgres(folder)
        stop_all(folder)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
