"""`python -m bot`: the Telegram bridge (needs TELEGRAM_BOT_TOKEN; see bot/app.py)."""

from __future__ import annotations

import logging
import sys

from bot.app import ConfigError, build_application
from bot.polling import run
from common.config import settings_or_exit
from common.logs import setup
from tickets.migrate import migrate_or_exit


def main() -> int:
    cfg = settings_or_exit()
    setup("bot", cfg.data_dir, cfg.log_level)  # also: files private (umask 077)
    migrate_or_exit(cfg)  # DATABASE_URL unreachable: one line naming it, exit status 2
    log = logging.getLogger("bot")
    try:
        app = build_application(cfg)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    run(app, cfg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
