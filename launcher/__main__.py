"""`python -m launcher run|serve|train|chat` — see the README."""

from __future__ import annotations

import argparse
import signal
import sys
import time

from common.config import settings_or_exit
from launcher.chat import repl
from launcher.services import Supervisor, plan, private_data_dir
from launcher.training import ensure_model
from tickets.migrate import migrate_or_exit


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m launcher")
    parser.add_argument(
        "command",
        choices=["run", "serve", "train", "chat", "cluster", "migrate"],
        help=(
            "run: train if needed, start everything and chat in this terminal; "
            "serve: the same without the terminal chat; train: only train; "
            "chat: chat with services that are already running; cluster: the production shape on this "
            "machine (PostgreSQL, Redis, haproxy, replicas; see the README); migrate: the ticket database only"
        ),
    )
    args, rest = parser.parse_known_args(argv)
    if args.command == "cluster":
        from launcher.cluster import main as cluster_main

        return cluster_main(rest)
    cfg = settings_or_exit()
    private_data_dir(cfg)
    if args.command == "chat":
        repl(cfg)
        return 0
    if args.command == "migrate":
        print(f"ticket database at schema version {migrate_or_exit(cfg)}")
        return 0
    model = ensure_model(cfg)
    if args.command == "train":
        return 0
    migrate_or_exit(cfg)
    interactive = args.command == "run"
    supervisor = Supervisor(cfg, plan(cfg, model), echo=not interactive)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt))
    print("启动服务中（第一次大约需要一分钟）…", flush=True)
    try:
        supervisor.start()
        print(f"Rasa 服务：{cfg.rasa_url}  （REST：{cfg.rasa_url}/webhooks/rest/webhook）")
        print(f"动作服务：{cfg.actions_url}")
        print(f"Telegram 桥：{'已启动' if cfg.telegram_token else '未启动（没有设置 TELEGRAM_BOT_TOKEN）'}")
        print(f"数据和日志：{cfg.data_dir}（内部密钥在 {cfg.data_dir / 'secrets'}）")
        print("按 Ctrl-C 停止全部服务。", flush=True)
        if interactive:
            repl(cfg)
        else:
            while True:  # the supervisor restarts whatever dies (launcher/services.py)
                time.sleep(1)
    except KeyboardInterrupt:
        pass
    finally:
        print("正在停止服务…", flush=True)
        supervisor.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
