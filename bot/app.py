"""Building the one `Application`: handlers, persistence, limits, deliverer (bot/polling.py runs it).

Settings (common/config.py): TELEGRAM_BOT_TOKEN (required), TELEGRAM_MODE (polling |
webhook), TELEGRAM_BASE_URL (a Bot API server's root, e.g. http://127.0.0.1:8081 for a
local telegram-bot-api or the test fake: requests go to `{base}/bot<token>/<method>`,
files to `{base}/file/bot<token>/<path>`), TELEGRAM_WEBHOOK_URL / _SECRET / _PORT,
TELEGRAM_TIMEOUT, STAFF_CHAT_ID, STAFF_USER_IDS, RATE_LIMIT_PER_MINUTE, MAX_MESSAGE_CHARS,
RASA_TIMEOUT, RENOTIFY_MINUTES. Per-person settings live in
`<data_dir>/bot-persistence.pickle` (PTB's PicklePersistence, user_data only).

Rasa is reached through its authenticated bridge channel (BRIDGE_TOKEN; common/rasa_client).
Updates are fetched through `ScreeningRequest` (bot/screening.py: a malformed update is
logged once and skipped); only the bridge holding the poller lease fetches them (bot/polling.py).
"""

from __future__ import annotations

import logging
import threading

from telegram.ext import AIORateLimiter, ApplicationBuilder, PersistenceInput, PicklePersistence
from telegram.request import BaseRequest, HTTPXRequest

from bot import resident, staff
from bot.context import CONTEXT_TYPES, BridgeApplication, BridgeContext
from bot.delivery import Deliverer
from bot.ordering import PrivateChatsInOrder
from bot.runtime import Bridge, RateLimiter
from bot.screening import ScreeningRequest
from common.config import Settings
from common.rasa_client import RasaClient, Reply
from speech import asr
from tickets.store import store_for

log = logging.getLogger(__name__)

PERSISTENCE_FILE = "bot-persistence.pickle"
PERSIST_EVERY_SECONDS = 5.0
CONCURRENT_UPDATES = 16
STOP_GRACE_SECONDS = 10.0


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


async def post_init(app: BridgeApplication) -> None:
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


async def post_stop(app: BridgeApplication) -> None:
    if app.bridge.deliverer is not None:
        await app.bridge.deliverer.stop(STOP_GRACE_SECONDS)


async def post_shutdown(app: BridgeApplication) -> None:
    await post_stop(app)
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
        .post_init(post_init)
        .post_stop(post_stop)
        .post_shutdown(post_shutdown)
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
