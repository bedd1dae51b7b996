"""Test doubles for external services (see `telegram_api.FakeTelegramAPI`)."""

from .telegram_api import (
    ApiError,
    Call,
    FakeTelegramAPI,
    Pushed,
    PushOptions,
    RawResponse,
    UserOptions,
    WebhookDelivery,
)

__all__ = [
    "ApiError",
    "Call",
    "FakeTelegramAPI",
    "PushOptions",
    "Pushed",
    "RawResponse",
    "UserOptions",
    "WebhookDelivery",
]
