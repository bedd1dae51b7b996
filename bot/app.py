"""Building and running the one `Application`: handlers, persistence, limits, deliverer.

Settings (common/config.py): TELEGRAM_BOT_TOKEN (required), TELEGRAM_MODE (polling |
webhook), TELEGRAM_BASE_URL (a Bot API server's root, e.g. http://127.0.0.1:8081 for a
local telegram-bot-api or the test fake: requests go to `{base}/bot<token>/<method>`,
files to `{base}/file/bot<token>/<path>`), TELEGRAM_WEBHOOK_URL / _SECRET / _PORT,
TELEGRAM_TIMEOUT, STAFF_CHAT_ID, STAFF_USER_IDS, RATE_LIMIT_PER_MINUTE, MAX_MESSAGE_CHARS,
RASA_TIMEOUT, RENOTIFY_MINUTES. Per-person settings live in
`<data_dir>/bot-persistence.pickle` (PTB's PicklePersistence, user_data only).

Rasa is reached through its authenticated bridge channel (BRIDGE_TOKEN; common/rasa_client).

Several bridges may run (a restart overlapping the old process, a hot spare): only the one
holding the `telegram-poller` lease (tickets/leases.py) fetches updates (long polling or
the webhook server); the others wait and take over within POLLER_LEASE_SECONDS when it
stops renewing. Every bridge runs the outbox deliverer: rows are claimed, never sent twice.

A malformed update from Telegram (one python-telegram-bot cannot read) would make the
poller fetch it again forever; `ScreeningRequest` replaces it by an empty update with the
same id, so it is logged once and skipped, and the next message is answered at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import signal
import threading
import time
from typing import Any
from urllib.parse import urlparse

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import AIORateLimiter, ApplicationBuilder, PersistenceInput, PicklePersistence
from telegram.request import BaseRequest, HTTPXRequest, RequestData

from bot import resident, staff
from bot.context import CONTEXT_TYPES, BridgeApplication, BridgeContext
from bot.delivery import Deliverer
from bot.ordering import PrivateChatsInOrder
from bot.runtime import Bridge, RateLimiter
from common.config import Settings
from common.logs import mask
from common.rasa_client import RasaClient, Reply
from speech import asr
from tickets.leases import Leases
from tickets.store import store_for

log = logging.getLogger(__name__)

PERSISTENCE_FILE = "bot-persistence.pickle"
PERSIST_EVERY_SECONDS = 5.0
CONCURRENT_UPDATES = 16
POLL_TIMEOUT_SECONDS = 10
STOP_GRACE_SECONDS = 10.0
POLLER_LEASE = "telegram-poller"
POLLER_LEASE_SECONDS = 20.0
POLLER_RENEW_SECONDS = 5.0
MAX_REMEMBERED_POISON = 1000


class ScreeningRequest(BaseRequest):
    """A Bot API connection that hands getUpdates only updates python-telegram-bot can read.

    Any other is replaced by `{"update_id": …}` (an update no handler matches), logged once
    (masked, cut), so the poller's offset moves past it instead of fetching it forever.
    """

    def __init__(self, inner: BaseRequest) -> None:
        self.inner = inner
        self._seen: dict[str, None] = {}

    async def initialize(self) -> None:
        await self.inner.initialize()

    async def shutdown(self) -> None:
        await self.inner.shutdown()

    @property
    def read_timeout(self) -> float | None:
        return self.inner.read_timeout

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        code, payload = await self.inner.do_request(
            url, method, request_data, read_timeout, write_timeout, connect_timeout, pool_timeout
        )
        if code == 200 and url.rstrip("/").endswith("/getUpdates"):
            payload = self.screen(payload)
        return code, payload

    def screen(self, payload: bytes) -> bytes:
        """The getUpdates answer with every unreadable update replaced (or the answer as it was)."""
        try:
            data = json.loads(payload)
        except ValueError:
            return payload
        result = data.get("result") if isinstance(data, dict) else None
        if not isinstance(result, list):
            return payload
        kept: list[Any] = []
        changed = False
        for raw in result:
            try:
                if not isinstance(raw, dict):
                    raise TypeError("an update must be an object")
                Update.de_json(raw, None)
                kept.append(raw)
                continue
            except Exception as exc:  # anything python-telegram-bot cannot read
                changed = True
                update_id = raw.get("update_id") if isinstance(raw, dict) else None
                self._log_once(raw, update_id, exc)
                if isinstance(update_id, int) and not isinstance(update_id, bool):
                    kept.append({"update_id": update_id})
        if not changed:
            return payload
        return json.dumps({**data, "result": kept}).encode()

    def _log_once(self, raw: Any, update_id: Any, exc: Exception) -> None:
        text = json.dumps(raw, ensure_ascii=False, default=str)
        digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
        if digest in self._seen:
            return
        self._seen[digest] = None
        while len(self._seen) > MAX_REMEMBERED_POISON:
            self._seen.pop(next(iter(self._seen)))
        log.error(
            "skipped an update python-telegram-bot cannot read (update_id %r, %s: %s): %s",
            update_id,
            type(exc).__name__,
            mask(str(exc))[:200],
            mask(text[:300]),
        )


class ConfigError(Exception):
    """The configuration does not allow the bridge to start (the message says why)."""


def check_config(cfg: Settings) -> None:
    """Refuse to start without a token, or in webhook mode without URL and secret."""
    if not cfg.telegram_token:
        raise ConfigError(
            "TELEGRAM_BOT_TOKEN is not set: the Telegram bridge cannot start. "
            "Set it in .env or the environment (a token from @BotFather)."
        )
    if cfg.telegram_mode == "webhook":  # the values themselves were checked by common.config
        if not cfg.webhook_url:
            raise ConfigError("webhook mode needs TELEGRAM_WEBHOOK_URL (the public HTTPS address Telegram posts to)")
        if not cfg.webhook_secret:
            raise ConfigError(
                "webhook mode needs TELEGRAM_WEBHOOK_SECRET (1-256 characters: letters, digits, _ and -), "
                "so that only Telegram can post updates"
            )


async def _post_init(app: BridgeApplication) -> None:
    b = app.bridge
    if b.deliverer is not None:
        b.deliverer.start()
    if not b.cfg.staff_user_ids:
        log.warning("STAFF_USER_IDS is empty: nobody may act on tickets in the staff group")
    if b.cfg.asr_enabled:
        # the recogniser loads once per process (speech.asr); the first voice message waits for it
        threading.Thread(target=asr.preload, name="asr-preload", daemon=True).start()
    else:
        log.info("speech recognition is off (ASR_ENABLED=0): voice messages are offered to staff as audio")
    log.info("Telegram bridge running (%s), Rasa at %s", b.cfg.telegram_mode, b.cfg.rasa_url)


async def _post_stop(app: BridgeApplication) -> None:
    if app.bridge.deliverer is not None:
        await app.bridge.deliverer.stop(STOP_GRACE_SECONDS)


async def _post_shutdown(app: BridgeApplication) -> None:
    await _post_stop(app)
    await app.bridge.rasa.close()


async def _on_error(update: object, context: BridgeContext) -> None:
    """Log, never crash: the next update is handled as usual."""
    log.error("error while handling an update: %s", context.error, exc_info=context.error)


def build_application(
    cfg: Settings, *, rate_window: float = 60.0, request: BaseRequest | None = None
) -> BridgeApplication:
    """The bridge's Application for `cfg` (not started).

    `rate_window` and `request` are for tests: `request` replaces the HTTP connection to the
    Bot API (tests/fakes/bot_api.py's offline request answers in-process).
    """
    check_config(cfg)
    cfg.data_dir.mkdir(parents=True, exist_ok=True)
    persistence = PicklePersistence(
        cfg.data_dir / PERSISTENCE_FILE,
        store_data=PersistenceInput(bot_data=False, chat_data=False, user_data=True, callback_data=False),
        update_interval=PERSIST_EVERY_SECONDS,
    )
    bridge = Bridge(
        cfg=cfg,
        store=store_for(cfg.database_url),
        limiter=RateLimiter(cfg.rate_limit_per_minute, rate_window),
        rasa=RasaClient.from_settings(cfg),
    )

    def wake_for_outbox(replies: list[Reply]) -> None:
        """A reply whose ticket number travels through the outbox: deliver it now."""
        if any(isinstance(r.get("custom"), dict) and r["custom"].get("delivery") == "outbox" for r in replies):
            bridge.wake_deliverer()

    bridge.rasa.on_replies = wake_for_outbox
    order = PrivateChatsInOrder(CONCURRENT_UPDATES)
    builder = (
        ApplicationBuilder()
        .application_class(BridgeApplication, kwargs={"bridge": bridge})
        .context_types(CONTEXT_TYPES)
        .token(cfg.telegram_token)
        .persistence(persistence)
        .job_queue(None)  # the outbox has its own task; PTB's JobQueue needs a newer APScheduler than Rasa's
        # flood control (429) is waited out by whoever sent: the deliverer on the row, replies in send_texts
        .rate_limiter(AIORateLimiter(max_retries=0))
        .concurrent_updates(order)
        .post_init(_post_init)
        .post_stop(_post_stop)
        .post_shutdown(_post_shutdown)
    )
    if request is not None:
        builder = builder.request(request).get_updates_request(ScreeningRequest(request))
    else:
        polling = HTTPXRequest(
            connection_pool_size=1,
            connect_timeout=10.0,
            read_timeout=cfg.telegram_timeout,
            write_timeout=cfg.telegram_timeout,
            pool_timeout=10.0,
        )
        builder = (
            builder.connect_timeout(10.0)
            .read_timeout(cfg.telegram_timeout)
            .write_timeout(cfg.telegram_timeout)
            .media_write_timeout(max(cfg.telegram_timeout, 60.0))
            .pool_timeout(10.0)
            .get_updates_request(ScreeningRequest(polling))
        )
    if cfg.telegram_base_url:
        base = cfg.telegram_base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    app = builder.build()
    assert isinstance(app, BridgeApplication)
    bridge.deliverer = Deliverer(app)
    order.admit = resident.admission(app)
    staff.add_handlers(app, cfg.staff_chat_id)
    resident.add_handlers(app, cfg.staff_chat_id)
    app.add_error_handler(_on_error)
    return app


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
        loop.run_until_complete(_post_init(app))
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
            loop.run_until_complete(_post_stop(app))
        loop.run_until_complete(app.shutdown())
        loop.run_until_complete(_post_shutdown(app))
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
