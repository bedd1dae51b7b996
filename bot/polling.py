"""Running the bridge: `run` (the event loop until a stop signal) and the poller lease.

Several bridges may run (a restart overlapping the old process, a hot spare): only the one
holding the `telegram-poller` lease (tickets/leases.py) fetches updates (long polling or
the webhook server, `hold_poller`); the others wait and take over within
POLLER_LEASE_SECONDS when it stops renewing. Every bridge runs the outbox deliverer: rows
are claimed, never sent twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import time
from typing import Any
from urllib.parse import urlparse

from telegram import Update
from telegram.error import TelegramError

from bot.app import post_init, post_shutdown, post_stop
from bot.context import BridgeApplication
from common.config import Settings
from tickets.leases import Leases

log = logging.getLogger(__name__)

POLL_TIMEOUT_SECONDS = 10
POLLER_LEASE = "telegram-poller"
POLLER_LEASE_SECONDS = 20.0
POLLER_RENEW_SECONDS = 5.0


def run(app: BridgeApplication, cfg: Settings, stop_signals: Any = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Run until stopped (SIGINT/SIGTERM, or `app.stop_running()`): the deliverer at once, and
    the updates — long polling, or a webhook server when TELEGRAM_MODE=webhook — while this
    bridge holds the poller lease (`hold_poller`).

    The webhook server listens on XUNWU_HOST:TELEGRAM_WEBHOOK_PORT at the path of
    TELEGRAM_WEBHOOK_URL (a reverse proxy in front keeps the path) and checks Telegram's
    secret token header. Tests pass `stop_signals=None`.
    """
    try:
        loop = asyncio.get_event_loop()
    except RuntimeError:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
    for sig in stop_signals or ():
        loop.add_signal_handler(sig, loop.stop)
    poller: asyncio.Task[None] | None = None
    try:
        loop.run_until_complete(_initialize(app))
        loop.run_until_complete(post_init(app))
        loop.run_until_complete(app.start())
        poller = loop.create_task(hold_poller(app, cfg), name="poller-lease")
        loop.run_forever()  # until loop.stop(): a signal or app.stop_running()
    finally:
        if poller is not None:
            poller.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                loop.run_until_complete(poller)
        if app.running:
            loop.run_until_complete(app.stop())
            loop.run_until_complete(post_stop(app))
        loop.run_until_complete(app.shutdown())
        loop.run_until_complete(post_shutdown(app))
        for sig in stop_signals or ():
            loop.remove_signal_handler(sig)


async def _initialize(app: BridgeApplication) -> None:
    """`app.initialize()`, waiting for the Bot API if it cannot be reached yet."""
    delay = 1.0
    while True:
        try:
            await app.initialize()
            return
        except TelegramError as exc:
            log.warning("the Bot API cannot be reached yet (%s); trying again in %.0f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _start_updates(app: BridgeApplication, cfg: Settings) -> None:
    updater = app.updater
    assert updater is not None
    if cfg.telegram_mode == "webhook":
        await updater.start_webhook(
            listen=cfg.host,
            port=cfg.webhook_port,
            url_path=urlparse(cfg.webhook_url).path.strip("/"),
            webhook_url=cfg.webhook_url,
            secret_token=cfg.webhook_secret,
            allowed_updates=Update.ALL_TYPES,
            bootstrap_retries=-1,
        )
    else:
        await updater.start_polling(
            allowed_updates=Update.ALL_TYPES,
            poll_interval=0.0,
            timeout=POLL_TIMEOUT_SECONDS,
            bootstrap_retries=-1,
        )


async def hold_poller(app: BridgeApplication, cfg: Settings) -> None:
    """Fetch updates while this bridge holds the poller lease; wait as a hot spare otherwise.

    The lease is renewed every POLLER_RENEW_SECONDS; when the database cannot be reached the
    holder keeps polling until its own lease would have run out, then stops.
    """
    leases = Leases(app.bridge.store.engine)
    owner = app.bridge.deliverer.owner if app.bridge.deliverer else "bridge"
    polling = False
    held_until = 0.0
    told_spare = False
    try:
        while True:
            try:
                held = await asyncio.to_thread(leases.acquire, POLLER_LEASE, owner, POLLER_LEASE_SECONDS)
                if held:
                    held_until = time.monotonic() + POLLER_LEASE_SECONDS
            except Exception as exc:  # the database is restarting: trust our lease while it lasts
                held = polling and time.monotonic() < held_until
                log.warning("could not renew the poller lease (%s)", type(exc).__name__)
            if held and not polling:
                await _start_updates(app, cfg)
                polling, told_spare = True, False
                log.info("this bridge fetches the Telegram updates (%s)", cfg.telegram_mode)
            elif not held and polling:
                await app.updater.stop()
                polling = False
                log.warning("the poller lease passed to another bridge; this one waits as a spare")
            elif not held and not told_spare:
                told_spare = True
                log.info("another bridge fetches the updates; this one waits as a hot spare (and delivers)")
            await asyncio.sleep(POLLER_RENEW_SECONDS)
    finally:
        if polling and app.updater is not None and app.updater.running:
            with contextlib.suppress(Exception):
                await app.updater.stop()
        with contextlib.suppress(Exception):
            await asyncio.to_thread(leases.release, POLLER_LEASE, owner)
