"""Rasa's input channels (credentials.yml names both): who may speak for whom, and what a
message may look like before Rasa sees it.

- `BridgeInput` (`POST /webhooks/bridge/webhook`): the Telegram bridge and the terminal
  chat. It proves it is one of them with the header `X-Xunwu-Bridge-Token` (BRIDGE_TOKEN,
  common/secrets.py), compared in constant time; without it, or with a wrong one, 401.
  Only this channel may speak for a Telegram sender (`tg:<chat>:<user>`).
- `PublicRestInput` (`POST /webhooks/rest/webhook`, Rasa's REST channel, same replies):
  for anyone who can reach Rasa (scripts, the README's curl). It refuses senders that
  belong to the bridge (`tg:…`, 403), so nobody can read a resident's tickets or speak in
  their name by knowing their Telegram id (Telegram ids are not secret).

Both check the request before Rasa sees it: a JSON object (415 for another content type,
400 for a body that is not one) whose `sender` is a string of 1–128 printable characters
(no control characters, no lone surrogates: such a sender once made Rasa exit) and whose
`message` is a string; the text is cleaned (control characters and lone surrogates become
spaces) and cut to MAX_MESSAGE_CHARS, so nothing a client sends can make a stored
conversation grow without bound or reach the database in a form it refuses. A bad request
gets a 4xx with a short JSON `error`, changes nothing and never reaches the dialogue.
`metadata` is taken from the bridge only (a JSON object of at most 4 KB); the public
channel ignores it and the client's `input_channel`. Streaming is not offered.
"""

from __future__ import annotations

import copy
import hmac
import json
import logging
import unicodedata
from asyncio import CancelledError
from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from common.logs import mask

log = logging.getLogger(__name__)

BRIDGE_HEADER = "X-Xunwu-Bridge-Token"
MAX_SENDER = 128
MAX_METADATA_BYTES = 4096
# Senders only the bridge channel may use.
RESERVED_PREFIXES = ("tg:",)
_KEEP = {"\n", "\t"}


class BadRequest(Exception):
    def __init__(self, status: int, error: str) -> None:
        super().__init__(error)
        self.status = status
        self.error = error


def clean_text(text: str, limit: int) -> str:
    """`text` without control characters or lone surrogates (each becomes a space), at most `limit` characters."""
    out = []
    for ch in text[: limit * 2]:
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF or (ch not in _KEEP and unicodedata.category(ch) == "Cc"):
            out.append(" ")
        else:
            out.append(ch)
    return "".join(out)[:limit]


def check_sender(value: Any) -> str:
    """The sender id, or BadRequest: 1–128 printable characters, not only spaces."""
    if not isinstance(value, str):
        raise BadRequest(400, "sender must be a string")
    if not value.strip() or len(value) > MAX_SENDER:
        raise BadRequest(400, f"sender must have 1 to {MAX_SENDER} characters")
    if not value.isprintable():
        raise BadRequest(400, "sender must not contain control characters or invalid characters")
    return value


def read_body(request: Request) -> dict[str, Any]:
    """The JSON object of the request, or BadRequest (415 wrong content type, 400 not an object)."""
    if request.content_type.split(";")[0].strip().lower() != "application/json":
        raise BadRequest(415, "the body must be JSON (Content-Type: application/json)")
    try:
        body = json.loads(request.body or b"")
    except (ValueError, UnicodeDecodeError):
        raise BadRequest(400, "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object with sender and message")
    return body


def message_limit() -> int:
    from common.config import settings

    return settings().max_message_chars


class _CheckedInput(InputChannel):
    """What both channels share: the checks, then Rasa's REST exchange (replies collected)."""

    def parse(self, request: Request) -> tuple[str, str, dict[str, Any] | None]:
        body = read_body(request)
        sender = check_sender(body.get("sender"))
        text = body.get("message")
        if not isinstance(text, str):
            raise BadRequest(400, "message must be a string")
        return sender, clean_text(text, message_limit()), self.metadata(body)

    def metadata(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """What of the client's metadata Rasa gets (the public channel: nothing)."""
        return None

    def authorise(self, request: Request, sender: str) -> None:
        """Raise BadRequest when the caller may not speak for `sender`."""

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        hook = Blueprint(f"xunwu_{type(self).__name__}", __name__)
        name = self.name()

        @hook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @hook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                self.authorise(request, "")
                sender, text, metadata = self.parse(request)
                self.authorise(request, sender)
            except BadRequest as refused:
                return response.json({"error": refused.error}, status=refused.status)
            collector = CollectingOutputChannel()
            try:
                await on_new_message(UserMessage(text, collector, sender, input_channel=name, metadata=metadata))
            except CancelledError:
                log.error("%s: the client went away before the reply (text %r)", name, mask(copy.copy(text)[:80]))
            except Exception:
                log.exception("%s: the message could not be handled", name)
                return response.json({"error": "the message could not be handled"}, status=500)
            return response.json(collector.messages)

        return hook


class PublicRestInput(_CheckedInput):
    """Rasa's REST channel for anyone who can reach Rasa; never for a bridge sender."""

    @classmethod
    def name(cls) -> str:
        return "rest"

    def authorise(self, request: Request, sender: str) -> None:
        if sender.lower().startswith(RESERVED_PREFIXES):
            raise BadRequest(403, "this sender belongs to the Telegram bridge; use the bridge channel")


class BridgeInput(_CheckedInput):
    """The channel of the Telegram bridge and the terminal chat (shared secret header)."""

    def __init__(self, token: str | None = None) -> None:
        self._token = token

    @classmethod
    def name(cls) -> str:
        return "bridge"

    def token(self) -> str:
        if self._token is None:
            from common.config import settings
            from common.secrets import read_secret

            self._token = read_secret(settings(), "bridge_token")
        return self._token

    def authorise(self, request: Request, sender: str) -> None:
        if sender:
            return  # checked once, before the body is read
        expected = self.token()
        given = request.headers.get(BRIDGE_HEADER, "")
        if not expected or not hmac.compare_digest(given.encode(), expected.encode()):
            raise BadRequest(401, f"the bridge channel needs the {BRIDGE_HEADER} header")

    def metadata(self, body: dict[str, Any]) -> dict[str, Any] | None:
        metadata = body.get("metadata")
        if metadata is None:
            return None
        if not isinstance(metadata, dict):
            raise BadRequest(400, "metadata must be a JSON object")
        if len(json.dumps(metadata, ensure_ascii=False).encode("utf-8", "replace")) > MAX_METADATA_BYTES:
            raise BadRequest(400, f"metadata must be at most {MAX_METADATA_BYTES} bytes")
        return metadata
