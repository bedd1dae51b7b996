"""The bridge's typed Application and handler context (python-telegram-bot's ContextTypes).

Handlers get a `BridgeContext`: `context.bridge` is the process's run-time state (settings,
ticket store, Rasa client, rate limiter, deliverer), held by the `BridgeApplication` and
never persisted; `context.user_data` is the person's persisted settings (voice, rate).
"""

from __future__ import annotations

from typing import Any

from telegram.ext import Application, CallbackContext, ContextTypes, ExtBot

from bot.runtime import Bridge

Data = dict[Any, Any]


class BridgeApplication(Application[ExtBot[None], "BridgeContext", Data, Data, Data, None]):
    """An Application that carries the bridge's run-time state as `bridge`."""

    def __init__(self, *, bridge: Bridge, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.bridge = bridge


class BridgeContext(CallbackContext[ExtBot[None], Data, Data, Data]):
    """The context every bridge handler receives."""

    @property
    def bridge(self) -> Bridge:
        app = self.application
        assert isinstance(app, BridgeApplication)
        return app.bridge


CONTEXT_TYPES = ContextTypes(context=BridgeContext)
