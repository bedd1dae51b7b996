"""A local fake of the Telegram Bot API for tests driving the real python-telegram-bot.

`FakeTelegramAPI` is an aiohttp server on 127.0.0.1 (a free port) that runs in its own
thread with its own event loop, so it serves a bot running in the test's event loop and
can be used from synchronous and asynchronous tests alike::

    with FakeTelegramAPI() as fake:  # or: async with FakeTelegramAPI() as fake:
        bot = telegram.Bot(
            "123:ABC", base_url=fake.base_url, base_file_url=fake.base_file_url
        )
        fake.push_text(chat_id=42, user_id=42, text="你好")
        call = fake.wait_for_call("sendMessage", chat_id=42)  # *_async in coroutines

It records every API call (`calls`, `sent_messages`), lets tests inject updates as if
users acted (`push_text`, `push_voice`, `push_callback`, ...), delivers them through
`getUpdates` long polling or, once the bot has set a webhook, by POSTing them to it, and
injects failures (`fail_next`, `fail_for`, `delay_next`, `set_down`).  Tests control it
through Python methods only, which failure injection never affects.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import copy
import html
import inspect
import itertools
import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from types import TracebackType
from typing import Any, Self, TypedDict, TypeVar, Unpack

from aiohttp import ClientError, ClientSession, ClientTimeout, web

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

JSONDict = dict[str, Any]
T = TypeVar("T")
_LOG = logging.getLogger(__name__)


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


_CANONICAL = {
    name.lower(): name
    for name in _words(
        "getMe logOut close getUpdates setWebhook deleteWebhook getWebhookInfo "
        "sendMessage sendPhoto sendAudio sendDocument sendVideo sendAnimation "
        "sendVoice sendVideoNote sendSticker sendLocation sendChatAction "
        "editMessageText editMessageCaption editMessageReplyMarkup deleteMessage "
        "answerCallbackQuery getFile setMyCommands getMyCommands deleteMyCommands "
        "copyMessage forwardMessage getChat downloadFile"
    )
}
# Fields whose form/multipart values are JSON documents, integers, booleans or floats.
_JSON_FIELDS = frozenset(
    _words(
        "reply_markup entities caption_entities commands scope allowed_updates media "
        "link_preview_options reply_parameters results options permissions message_ids"
    )
)
_INT_FIELDS = frozenset(
    _words(
        "chat_id from_chat_id message_id reply_to_message_id offset limit timeout "
        "duration user_id cache_time max_connections message_thread_id width height "
        "length live_period heading proximity_alert_radius"
    )
)
_BOOL_FIELDS = frozenset(
    _words(
        "disable_notification protect_content show_alert drop_pending_updates "
        "disable_web_page_preview allow_sending_without_reply has_spoiler "
        "disable_content_type_detection supports_streaming show_caption_above_media"
    )
)
_FLOAT_FIELDS = frozenset(_words("latitude longitude horizontal_accuracy"))
_CHAT_ACTIONS = frozenset(
    _words(
        "typing upload_photo record_video upload_video record_voice upload_voice "
        "upload_document choose_sticker find_location record_video_note "
        "upload_video_note"
    )
)
_INLINE_BUTTON_ACTIONS = frozenset(
    _words(
        "url callback_data web_app login_url switch_inline_query "
        "switch_inline_query_current_chat switch_inline_query_chosen_chat copy_text "
        "callback_game pay"
    )
)
_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")
_INT_RE = re.compile(r"^-?\d+$")
_MAX_TEXT = 4096
_MAX_CAPTION = 1024
_UPDATE_TYPES = _words(
    "message edited_message channel_post edited_channel_post callback_query "
    "inline_query chosen_inline_result my_chat_member chat_member chat_join_request"
)


class UserOptions(TypedDict, total=False):
    """Who acts in a pushed update; fields given once persist for that user id."""

    first_name: str | None
    last_name: str | None
    username: str | None
    language_code: str | None


class PushOptions(UserOptions, total=False):
    """Options of the `push_*` helpers besides the content."""

    chat_type: str | None  # default: "private" if chat_id > 0 else "supergroup"
    chat_title: str | None
    reply_to_message_id: int | None


class ApiError(Exception):
    """A Bot API error: HTTP `status` with `{"ok": false, "description": ...}`."""

    def __init__(self, status: int, description: str, parameters: JSONDict | None = None):
        super().__init__(description)
        self.status = status
        self.description = description
        self.parameters = parameters

    def payload(self) -> JSONDict:
        """The JSON body Telegram would send for this error."""
        body: JSONDict = {
            "ok": False,
            "error_code": self.status,
            "description": self.description,
        }
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad(description: str) -> ApiError:
    return ApiError(400, f"Bad Request: {description}")


@dataclass(frozen=True)
class Call:
    """One request the fake answered (recorded when its answer was ready).

    `method` is the canonical name (`sendMessage` however the client spelled it),
    `params` the decoded parameters (JSON fields parsed, ids as int), `files` the
    uploaded multipart parts, `time` the arrival time (`time.time()`), `status` the HTTP
    status and `response` the JSON body answered.
    """

    method: str
    params: JSONDict
    files: dict[str, bytes]
    time: float
    token: str = ""
    status: int = 200
    response: JSONDict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        """Whether the call succeeded (HTTP 200 and `ok: true`)."""
        return self.status == 200 and bool(self.response.get("ok", True))

    @property
    def result(self) -> Any:
        """The `result` answered, or None for a failed call."""
        return self.response.get("result")

    @property
    def chat_id(self) -> int | str | None:
        """The `chat_id` parameter, if any."""
        return self.params.get("chat_id")

    @property
    def text(self) -> str | None:
        """The `text` (or `caption`) parameter, if any."""
        return self.params.get("text", self.params.get("caption"))


@dataclass(frozen=True)
class Pushed:
    """An update a test injected: its `update_id` and the full `update` JSON."""

    update_id: int
    update: JSONDict

    @property
    def message(self) -> JSONDict | None:
        """The message the update carries (for a callback query: the one clicked)."""
        message: JSONDict | None = self.update.get("message")
        if message is None and "callback_query" in self.update:
            message = self.update["callback_query"].get("message")
        return message

    @property
    def message_id(self) -> int | None:
        """The id of `message`, if any."""
        message = self.message
        return int(message["message_id"]) if message else None

    @property
    def callback_query_id(self) -> str | None:
        """The id of the callback query, for `push_callback`."""
        query = self.update.get("callback_query")
        return str(query["id"]) if query else None

    @property
    def file_id(self) -> str | None:
        """The file id of the voice/photo/document/sticker in the message, if any."""
        message = self.update.get("message") or {}
        for kind in ("voice", "document", "sticker", "audio", "video"):
            if kind in message:
                return str(message[kind]["file_id"])
        if "photo" in message:
            return str(message["photo"][-1]["file_id"])
        return None


@dataclass(frozen=True)
class RawResponse:
    """What a webhook answered to `post_raw_update`."""

    status: int
    body: bytes
    headers: dict[str, str]


@dataclass(frozen=True)
class WebhookDelivery:
    """One POST of an update to the bot's webhook (`status` None: no connection)."""

    update_id: int | None
    url: str
    status: int | None
    error: str | None
    time: float
    raw: bool = False

    @property
    def ok(self) -> bool:
        """Whether the webhook answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


@dataclass
class _Rule:
    """A failure or delay injection."""

    kind: str  # "fail" or "delay"
    remaining: int | None  # calls left, None = until deadline
    deadline: float | None  # time.monotonic() limit, None = until remaining is spent
    methods: frozenset[str] | None  # lowercase names; None = every API method
    status: int = 500
    seconds: float = 0.0
    description: str = ""
    retry_after: int | None = None

    def applies(self, method_lc: str, is_download: bool, now: float) -> bool:
        if self.deadline is not None and now >= self.deadline:
            return False
        if self.methods is None:
            return not is_download
        return method_lc in self.methods

    def error(self) -> ApiError:
        params = {"retry_after": self.retry_after} if self.retry_after else None
        return ApiError(self.status, self.description, params)


@dataclass
class _Upload:
    data: bytes
    filename: str | None
    content_type: str | None


@dataclass
class _File:
    file_id: str
    file_unique_id: str
    data: bytes
    file_path: str
    mime_type: str | None
    file_name: str | None


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _clone(value: T) -> T:
    return copy.deepcopy(value)


def _same_chat(a: object, b: object) -> bool:
    return a is not None and b is not None and str(a) == str(b)


def _byte_offset(text: str, index: int) -> int:
    """The UTF-8 byte offset of `text[index]`, as Telegram reports parse errors."""
    return len(text[:index].encode())


def _describe_error(status: int) -> str:
    try:
        phrase = HTTPStatus(status).phrase
    except ValueError:
        phrase = f"HTTP {status}"
    return f"{phrase} (injected by FakeTelegramAPI)"


# ---------------------------------------------------------------------- text parsing

_HTML_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_TAG_RE = re.compile(r"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s[^<>]*)?)>")
_ATTR_RE = re.compile(r"""([a-zA-Z-]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?""")
_HTML_CHARREF = re.compile(r"&(#\d+|#[xX][0-9a-fA-F]+|lt|gt|amp|quot);")


def _parse_html(text: str) -> tuple[str, list[JSONDict]]:
    """Check Telegram's HTML subset; return (plain text, entities) or raise ApiError."""

    def fail(message: str) -> ApiError:
        return _bad(f"can't parse entities: {message}")

    out: list[str] = []
    pos = 0  # UTF-16 offset in the plain text
    stack: list[tuple[str, int, JSONDict | None]] = []
    entities: list[JSONDict] = []
    i = 0
    while i < len(text):
        char = text[i]
        if char == "<":
            offset = _byte_offset(text, i)
            match = _TAG_RE.match(text, i)
            if not match:
                raise fail(f'Unsupported start tag "" at byte offset {offset}')
            closing, name, attr_text = (
                match.group(1) == "/",
                match.group(2).lower(),
                match.group(3),
            )
            if name not in _HTML_ENTITY:
                kind = "end" if closing else "start"
                raise fail(f'Unsupported {kind} tag "{name}" at byte offset {offset}')
            if closing:
                if not stack:
                    raise fail(f"Unexpected end tag at byte offset {offset}")
                if stack[-1][0] != name:
                    expected = stack[-1][0]
                    raise fail(
                        f'Unmatched end tag at byte offset {offset}, expected "</{expected}>", found "</{name}>"'
                    )
                _, start, closed = stack.pop()
                if closed is not None and pos > start:
                    closed.update(offset=start, length=pos - start)
                    entities.append(closed)
            else:
                attrs = {
                    m.group(1).lower(): m.group(2) or m.group(3) or m.group(4) or ""
                    for m in _ATTR_RE.finditer(attr_text)
                }
                entity: JSONDict | None = {"type": _HTML_ENTITY[name]}
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
                if name == "a":
                    if not attrs.get("href"):
                        entity = None
                    else:
                        entity = {
                            "type": "text_link",
                            "url": html.unescape(attrs["href"]),
                        }
                if name == "tg-emoji":
                    entity = {
                        "type": "custom_emoji",
                        "custom_emoji_id": attrs.get("emoji-id", ""),
                    }
                if name == "blockquote" and "expandable" in attrs:
                    entity = {"type": "expandable_blockquote"}
                if name == "code" and stack and stack[-1][0] == "pre":
                    language = attrs.get("class", "")
                    pre_entity = stack[-1][2]
                    if language.startswith("language-") and pre_entity is not None:
                        pre_entity["language"] = language[len("language-") :]
                        entity = None
                stack.append((name, pos, entity))
            i = match.end()
            continue
        if char == "&":
            ref = _HTML_CHARREF.match(text, i)
            if ref:
                char = html.unescape(ref.group(0))
                i = ref.end()
                out.append(char)
                pos += _utf16_len(char)
                continue
        out.append(char)
        pos += _utf16_len(char)
        i += 1
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


_MDV2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MDV2_NAMES = {
    "*": "Bold",
    "_": "Italic",
    "__": "Underline",
    "~": "Strikethrough",
    "||": "Spoiler",
}


def _parse_markdown_v2(text: str) -> str:
    """Check MarkdownV2 like Telegram (reserved characters, closed entities).

    Returns the plain text; raises ApiError like Telegram's "can't parse entities".
    """

    def fail(message: str) -> ApiError:
        return _bad(f"can't parse entities: {message}")

    out: list[str] = []
    stack: list[tuple[str, int]] = []  # (marker, index where it opened)
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and 0 < ord(text[i + 1]) < 127:
            out.append(text[i + 1])
            i += 2
            continue
        if text.startswith("```", i) or char == "`":
            fence = "```" if text.startswith("```", i) else "`"
            end = i + len(fence)
            j = end
            while j < n and not text.startswith(fence, j):
                j += 2 if text[j] == "\\" else 1
            if j >= n:
                kind = "Pre" if fence == "```" else "Code"
                raise fail(f"Can't find end of {kind} entity at byte offset {_byte_offset(text, i)}")
            body = text[end:j]
            if fence == "```" and "\n" in body:
                body = body.split("\n", 1)[1]
            out.append(re.sub(r"\\([`\\])", r"\1", body))
            i = j + len(fence)
            continue
        marker = next((m for m in ("||", "__", "*", "_", "~") if text.startswith(m, i)), None)
        if marker:
            if stack and stack[-1][0] == marker:
                stack.pop()
            else:
                stack.append((marker, i))
            i += len(marker)
            continue
        if char == "[":
            stack.append(("[", i))
            i += 1
            continue
        if char == "]" and stack and stack[-1][0] == "[":
            stack.pop()
            if text.startswith("(", i + 1):
                j = i + 2
                while j < n and text[j] != ")":
                    j += 2 if text[j] == "\\" else 1
                if j >= n:
                    raise fail(f"Can't find end of a url at byte offset {_byte_offset(text, i)}")
                i = j + 1
            else:
                i += 1
            continue
        if char == ">" and (i == 0 or text[i - 1] == "\n"):
            i += 1
            continue
        if char in _MDV2_RESERVED:
            raise fail(f"Character '{char}' is reserved and must be escaped with the preceding '\\'")
        out.append(char)
        i += 1
    if stack:
        marker, index = stack[-1]
        name = "TextUrl" if marker == "[" else _MDV2_NAMES[marker]
        raise fail(f"Can't find end of {name} entity at byte offset {_byte_offset(text, index)}")
    return "".join(out)


def _parse_markdown(text: str) -> str:
    """Check legacy Markdown (closed `*`, `_`, backticks, links); return plain text."""
    out: list[str] = []
    i = 0
    n = len(text)
    while i < n:
        char = text[i]
        if char == "\\" and i + 1 < n and text[i + 1] in "_*`[":
            out.append(text[i + 1])
            i += 2
            continue
        fence = "```" if text.startswith("```", i) else char if char in "*_`" else None
        if fence:
            j = text.find(fence, i + len(fence))
            if j < 0:
                raise _bad(
                    "can't parse entities: Can't find end of the entity starting at "
                    f"byte offset {_byte_offset(text, i)}"
                )
            out.append(text[i + len(fence) : j])
            i = j + len(fence)
            continue
        if char == "[":
            match = re.match(r"\[([^\]]*)\]\(([^)]*)\)", text[i:])
            if match:
                out.append(match.group(1))
                i += match.end()
                continue
        out.append(char)
        i += 1
    return "".join(out)


def _render_text(text: str, parse_mode: str | None, entities: Any) -> tuple[str, list[JSONDict]]:
    """Apply `parse_mode` like Telegram: return the plain text and its entities."""
    mode = (parse_mode or "").lower()
    if mode == "html":
        return _parse_html(text)
    if mode == "markdownv2":
        return _parse_markdown_v2(text), []
    if mode == "markdown":
        return _parse_markdown(text), []
    if mode:
        raise _bad(f"unsupported parse_mode {parse_mode!r}")
    return text, list(entities or [])


# --------------------------------------------------------------------------- the server


class FakeTelegramAPI:
    """A fake Telegram Bot API server on 127.0.0.1 for tests (see the module docstring).

    Behaviour worth knowing when testing a PTB bot against it:

    * Unknown methods answer 404 as on Telegram, which PTB raises as `InvalidToken`;
      a 401/404 on getUpdates ends PTB's polling loop for good.
    * A newer getUpdates ends a pending one with 409 (as on Telegram): stopping PTB's
      updater therefore records one failed getUpdates for its abandoned long poll.
    * While a webhook is set, getUpdates answers 409 and pushed updates are POSTed to
      it (retried with backoff until it answers 2xx); deleting it resumes polling.
    * Inside coroutines use the `*_async` waiters: the blocking ones would stall the
      event loop the bot runs on, so they raise RuntimeError there.

    Args:
        bot_username: the username `getMe` reports (without `@`).
        bot_first_name: the bot's first name.
        strict_chats: if true, sending to a chat that no push or `register_chat`
            created answers 400 "chat not found" like Telegram; by default such chats
            are created on the fly.
        first_update_id: the id of the first injected update.
        port: a fixed port (0 = a free one).
    """

    def __init__(
        self,
        *,
        bot_username: str = "fake_test_bot",
        bot_first_name: str = "Fake Bot",
        strict_chats: bool = False,
        first_update_id: int = 100_000,
        port: int = 0,
    ) -> None:
        self.bot_username = bot_username
        self.bot_first_name = bot_first_name
        self.strict_chats = strict_chats
        self._requested_port = port
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._async_waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()
        self._ids = itertools.count(1)
        self._next_update_id = first_update_id
        self._started_at = time.time()
        self._calls: list[Call] = []
        self._updates: list[JSONDict] = []
        self._users: dict[int, JSONDict] = {}
        self._chats: dict[int | str, JSONDict] = {}
        self._message_counters: dict[int | str, int] = {}
        self._messages: dict[tuple[int | str, int], JSONDict] = {}
        self._sent: list[JSONDict] = []
        self._files: dict[str, _File] = {}
        self._files_by_path: dict[str, _File] = {}
        self._callback_queries: dict[str, JSONDict] = {}
        self._commands: dict[str, list[JSONDict]] = {}
        self._blocked: set[str] = set()
        self._rules: list[_Rule] = []
        self._down = False
        self._webhook: JSONDict = {}
        self._webhook_error: tuple[int, str] | None = None
        self._deliveries: list[WebhookDelivery] = []
        self._poll_generation: dict[str, int] = {}
        # Owned by the server thread.
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._runner: web.AppRunner | None = None
        self._session: ClientSession | None = None
        self._changed: asyncio.Event | None = None
        self._stopping = False
        self._delivery_task: asyncio.Task[None] | None = None
        self._port = 0
        self._handlers: dict[str, Callable[[str, JSONDict, dict[str, _Upload]], Any]] = {
            "getme": self._m_get_me,
            "logout": self._m_true,
            "close": self._m_true,
            "setwebhook": self._m_set_webhook,
            "deletewebhook": self._m_delete_webhook,
            "getwebhookinfo": self._m_get_webhook_info,
            "sendmessage": self._m_send_message,
            "sendlocation": self._m_send_location,
            "sendchataction": self._m_send_chat_action,
            "editmessagetext": self._m_edit_message_text,
            "editmessagecaption": self._m_edit_message_caption,
            "editmessagereplymarkup": self._m_edit_message_reply_markup,
            "deletemessage": self._m_delete_message,
            "answercallbackquery": self._m_answer_callback_query,
            "getfile": self._m_get_file,
            "setmycommands": self._m_set_my_commands,
            "getmycommands": self._m_get_my_commands,
            "deletemycommands": self._m_delete_my_commands,
            "copymessage": self._m_copy_message,
            "forwardmessage": self._m_forward_message,
            "getchat": self._m_get_chat,
        }
        for method in (
            "sendphoto",
            "sendaudio",
            "senddocument",
            "sendvideo",
            "sendanimation",
            "sendvoice",
            "sendvideonote",
            "sendsticker",
        ):
            self._handlers[method] = self._media_sender(method)

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> Self:
        """Start serving in a background thread; return self (idempotent)."""
        if self._thread is not None:
            return self
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", self._requested_port))
        sock.listen(128)
        self._port = sock.getsockname()[1]
        self._stopping = False
        ready = threading.Event()
        errors: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._serve,
            args=(sock, ready, errors),
            name="FakeTelegramAPI",
            daemon=True,
        )
        self._thread.start()
        if not ready.wait(15) or errors:
            self._thread = None
            sock.close()
            raise RuntimeError("FakeTelegramAPI failed to start") from (errors[0] if errors else None)
        return self

    def stop(self) -> None:
        """Stop the server and its thread; pending long polls answer (idempotent)."""
        thread, loop = self._thread, self._loop
        if thread is None or loop is None:
            return
        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(self._shutdown(), loop).result(timeout=15)
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=15)
        self._thread = None
        self._loop = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def __aenter__(self) -> Self:
        return await asyncio.to_thread(self.start)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await asyncio.to_thread(self.stop)

    @property
    def port(self) -> int:
        """The TCP port served on 127.0.0.1."""
        return self._port

    @property
    def url(self) -> str:
        """The server's root URL."""
        if not self._port:
            raise RuntimeError("FakeTelegramAPI is not started")
        return f"http://127.0.0.1:{self._port}"

    @property
    def base_url(self) -> str:
        """Value for PTB's `base_url` (PTB appends the token)."""
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        """Value for PTB's `base_file_url` (PTB appends the token)."""
        return f"{self.url}/file/bot"

    def _serve(self, sock: socket.socket, ready: threading.Event, errors: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        self._loop = loop
        try:
            loop.run_until_complete(self._setup(sock))
        except Exception as exc:  # noqa: BLE001 - re-raised by start()
            errors.append(exc)
            ready.set()
            loop.close()
            return
        ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _setup(self, sock: socket.socket) -> None:
        self._changed = asyncio.Event()
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_file)
        app.router.add_route("*", "/{tail:.*}", self._handle_not_found)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        await web.SockSite(self._runner, sock).start()
        self._session = ClientSession(timeout=ClientTimeout(total=10))
        self._delivery_task = asyncio.create_task(self._deliver_webhooks())

    async def _shutdown(self) -> None:
        if self._runner is None:
            return
        self._stopping = True
        self._wake_loop()
        if self._delivery_task is not None:
            self._delivery_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._delivery_task
            self._delivery_task = None
        runner, self._runner = self._runner, None
        await runner.cleanup()
        if self._session is not None:
            await self._session.close()
            self._session = None

    # ------------------------------------------------------------------ notification

    def _notify(self) -> None:
        """Wake every waiter (sync, async, the server's pollers); hold the lock."""
        self._cond.notify_all()
        for loop, event in list(self._async_waiters):
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(event.set)
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(self._wake_loop)

    def _wake_loop(self) -> None:
        """Release all in the server loop waiting on `_changed` (loop thread only)."""
        event, self._changed = self._changed, asyncio.Event()
        if event is not None:
            event.set()

    async def _wait_changed(self, event: asyncio.Event | None, timeout: float) -> None:
        if event is None or timeout <= 0:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def _sleep(self, seconds: float) -> None:
        """Sleep, but return early when the server stops."""
        deadline = time.monotonic() + seconds
        while not self._stopping and (left := deadline - time.monotonic()) > 0:
            await self._wait_changed(self._changed, left)

    # ------------------------------------------------------------------ HTTP handlers

    async def _handle_not_found(self, request: web.Request) -> web.Response:
        return web.json_response(ApiError(404, "Not Found").payload(), status=404)

    async def _handle_api(self, request: web.Request) -> web.Response:
        arrived = time.time()
        token = request.match_info["token"]
        method_lc = request.match_info["method"].lower()
        method = _CANONICAL.get(method_lc, request.match_info["method"])
        params: JSONDict = {}
        uploads: dict[str, _Upload] = {}
        status, payload = 200, {}
        try:
            params, uploads = await self._parse_request(request)
            with self._lock:
                delay, failure = self._take_injections(method_lc, is_download=False)
            if delay:
                await self._sleep(delay)
            if failure is not None:
                raise failure
            if method_lc == "getupdates":
                result = await self._get_updates(token, params)
            else:
                handler = self._handlers.get(method_lc)
                if handler is None:
                    raise ApiError(404, "Not Found: method not found")
                with self._lock:
                    result = handler(token, params, uploads)
            payload = {"ok": True, "result": result}
            if method_lc == "setwebhook" and params.get("url"):
                payload["description"] = "Webhook was set"
        except ApiError as exc:
            status, payload = exc.status, exc.payload()
        except Exception as exc:  # noqa: BLE001 - a bug in the fake: answer, don't hang
            _LOG.exception("FakeTelegramAPI failed on %s", method)
            status = 500
            payload = ApiError(500, f"Internal Server Error: fake failed: {exc!r}").payload()
        self._record(
            Call(
                method=method,
                params=_clone(params),
                files={name: up.data for name, up in uploads.items()},
                time=arrived,
                token=token,
                status=status,
                response=_clone(payload),
            )
        )
        return web.json_response(payload, status=status)

    async def _handle_file(self, request: web.Request) -> web.StreamResponse:
        arrived = time.time()
        token, path = request.match_info["token"], request.match_info["path"]
        with self._lock:
            delay, failure = self._take_injections("downloadfile", is_download=True)
            entry = self._files_by_path.get(path)
        if delay:
            await self._sleep(delay)
        response: web.StreamResponse
        if failure is not None:
            status, payload = failure.status, failure.payload()
            response = web.json_response(payload, status=status)
        elif entry is None:
            status, payload = 404, ApiError(404, "Not Found").payload()
            response = web.json_response(payload, status=status)
        else:
            status, payload = (
                200,
                {"ok": True, "result": {"file_size": len(entry.data)}},
            )
            response = web.Response(
                body=entry.data,
                content_type=entry.mime_type or "application/octet-stream",
            )
        self._record(Call("downloadFile", {"file_path": path}, {}, arrived, token, status, payload))
        return response

    async def _parse_request(self, request: web.Request) -> tuple[JSONDict, dict[str, _Upload]]:
        params: JSONDict = dict(request.query)
        uploads: dict[str, _Upload] = {}
        if request.body_exists:
            ctype = request.content_type
            if ctype == "application/json":
                try:
                    body = await request.json()
                except ValueError as exc:
                    raise _bad("can't parse JSON request body") from exc
                if not isinstance(body, dict):
                    raise _bad("JSON request body must be an object")
                params.update(body)
            elif ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
                form = await request.post()
                for key, value in form.items():
                    if isinstance(value, web.FileField):
                        with value.file:  # aiohttp spools parts to temporary files
                            data = value.file.read()
                        uploads[key] = _Upload(data, value.filename, value.content_type)
                    else:
                        params[key] = value if isinstance(value, str) else bytes(value).decode()
            else:
                raise _bad(f"unsupported Content-Type {ctype!r}")
        return _normalize(params), uploads

    def _record(self, call: Call) -> None:
        with self._lock:
            self._calls.append(call)
            self._notify()

    def _take_injections(self, method_lc: str, *, is_download: bool) -> tuple[float, ApiError | None]:
        """Consume the delay and failure rules that apply to this call (lock held)."""
        now = time.monotonic()
        delay = 0.0
        failure = ApiError(502, "Bad Gateway (fake server is down)") if self._down else None
        for rule in list(self._rules):
            if not rule.applies(method_lc, is_download, now):
                continue
            if rule.kind == "delay":
                if delay:
                    continue
                delay = rule.seconds
            else:
                if failure is not None:
                    continue
                failure = rule.error()
            if rule.remaining is not None:
                rule.remaining -= 1
                if rule.remaining <= 0:
                    self._rules.remove(rule)
        self._rules = [r for r in self._rules if r.deadline is None or r.deadline > now]
        return delay, failure

    # ------------------------------------------------------------------ getUpdates

    async def _get_updates(self, token: str, params: JSONDict) -> list[JSONDict]:
        assert self._loop is not None
        offset = params.get("offset")
        try:
            limit = max(1, min(100, int(params.get("limit") or 100)))
            timeout = max(0.0, float(params.get("timeout") or 0))
        except (TypeError, ValueError) as exc:
            raise _bad("wrong limit or timeout specified") from exc
        allowed = params.get("allowed_updates") or None
        with self._lock:
            self._check_no_webhook()
            if isinstance(offset, int):
                self._confirm_updates(offset)
            generation = self._poll_generation.get(token, 0) + 1
            self._poll_generation[token] = generation
        self._wake_loop()  # a newer getUpdates terminates an older one, as on Telegram
        deadline = self._loop.time() + timeout
        while True:
            changed = self._changed
            with self._lock:
                if self._poll_generation.get(token) != generation:
                    raise ApiError(
                        409,
                        "Conflict: terminated by other getUpdates request; "
                        "make sure that only one bot instance is running",
                    )
                self._check_no_webhook()
                batch = [u for u in self._updates if not allowed or _update_type(u) in allowed]
                batch = _clone(batch[:limit])
            remaining = deadline - self._loop.time()
            if batch or self._stopping or remaining <= 0:
                return batch
            await self._wait_changed(changed, remaining)

    def _check_no_webhook(self) -> None:
        if self._webhook.get("url"):
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    def _confirm_updates(self, offset: int) -> None:
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]

    # -------------------------------------------------------------- webhook delivery

    async def _deliver_webhooks(self) -> None:
        """Deliver queued updates to the webhook in order; retry with backoff."""
        backoff = 0.05
        while not self._stopping:
            changed = self._changed
            with self._lock:
                url = self._webhook.get("url")
                secret = self._webhook.get("secret_token")
                update = _clone(self._updates[0]) if url and self._updates else None
            if update is None or url is None:
                await self._wait_changed(changed, 1.0)
                continue
            status, error = await self._post_update(url, json.dumps(update).encode(), secret)
            delivered = status is not None and 200 <= status < 300
            with self._lock:
                self._deliveries.append(WebhookDelivery(update["update_id"], url, status, error, time.time()))
                if delivered:
                    self._updates = [u for u in self._updates if u["update_id"] != update["update_id"]]
                    self._webhook_error = None
                else:
                    self._webhook_error = (
                        int(time.time()),
                        error or f"Wrong response from the webhook: {status}",
                    )
                self._notify()
            if delivered:
                backoff = 0.05
            else:
                await self._sleep(backoff)
                backoff = min(backoff * 2, 1.0)

    async def _post_update(
        self,
        url: str,
        body: bytes,
        secret: str | None,
        content_type: str = "application/json",
    ) -> tuple[int | None, str | None]:
        response = await self._post(url, body, secret, content_type)
        if isinstance(response, str):
            return None, response
        return response.status, None

    async def _post(self, url: str, body: bytes, secret: str | None, content_type: str) -> RawResponse | str:
        assert self._session is not None
        headers = {"Content-Type": content_type}
        if secret is not None:
            headers["X-Telegram-Bot-Api-Secret-Token"] = secret
        try:
            async with self._session.post(url, data=body, headers=headers) as resp:
                return RawResponse(resp.status, await resp.read(), dict(resp.headers))
        except (TimeoutError, ClientError, OSError) as exc:
            return f"{type(exc).__name__}: {exc}"

    # ------------------------------------------------------------------ Bot API methods

    def _bot_user(self, token: str) -> JSONDict:
        head = token.split(":", 1)[0]
        return {
            "id": int(head) if head.isdigit() else 1,
            "is_bot": True,
            "first_name": self.bot_first_name,
            "username": self.bot_username,
        }

    def _m_true(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        return True

    def _m_get_me(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        return {
            **self._bot_user(token),
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    def _m_set_webhook(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        url = str(p.get("url") or "")
        if not url:
            return self._m_delete_webhook(token, p, files)
        if not url.startswith(("http://", "https://")):
            raise _bad("bad webhook: An HTTPS URL must be provided for webhook")
        secret = p.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", str(secret)):
            raise _bad("bad webhook: secret token contains unallowed characters")
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {
            "url": url,
            "secret_token": None if secret is None else str(secret),
            "max_connections": int(p.get("max_connections") or 40),
            "allowed_updates": p.get("allowed_updates"),
        }
        self._webhook_error = None
        self._notify()
        return True

    def _m_delete_webhook(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        if p.get("drop_pending_updates"):
            self._updates.clear()
        self._webhook = {}
        self._notify()
        return True

    def _m_get_webhook_info(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        info: JSONDict = {
            "url": self._webhook.get("url", ""),
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self._webhook.get("url"):
            info["max_connections"] = self._webhook["max_connections"]
            if self._webhook.get("allowed_updates"):
                info["allowed_updates"] = self._webhook["allowed_updates"]
            if self._webhook_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
        return info

    def _target_chat(self, p: JSONDict, key: str = "chat_id") -> JSONDict:
        chat_id = p.get(key)
        if chat_id in (None, ""):
            raise _bad(f"{key} is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            chat = next(
                (c for c in self._chats.values() if f"@{c.get('username')}" == chat_id),
                None,
            )
            if chat is None:
                raise _bad("chat not found")
            return chat
        if not isinstance(chat_id, int):
            raise _bad("chat not found")
        if str(chat_id) in self._blocked:
            raise ApiError(
                403,
                "Forbidden: bot was blocked by the user"
                if chat_id > 0
                else "Forbidden: bot was kicked from the supergroup chat",
            )
        chat = self._chats.get(chat_id)
        if chat is None:
            if self.strict_chats:
                raise _bad("chat not found")
            chat = self._ensure_chat(chat_id)
        return chat

    def _ensure_chat(self, chat_id: int, chat_type: str | None = None, **extra: Any) -> JSONDict:
        chat = self._chats.get(chat_id)
        if chat is None:
            chat_type = chat_type or ("private" if chat_id > 0 else "supergroup")
            chat = {"id": chat_id, "type": chat_type}
            if chat_type == "private":
                user = self._users.get(chat_id, {})
                chat["first_name"] = user.get("first_name", f"User {chat_id}")
                for key in ("last_name", "username"):
                    if user.get(key):
                        chat[key] = user[key]
            else:
                chat["title"] = f"Group {chat_id}"
            self._chats[chat_id] = chat
        elif chat_type:
            chat["type"] = chat_type
        chat.update({k: v for k, v in extra.items() if v is not None})
        return chat

    def _new_message(self, chat: JSONDict, sender: JSONDict, content: JSONDict) -> JSONDict:
        chat_id = chat["id"]
        message_id = self._message_counters.get(chat_id, 0) + 1
        self._message_counters[chat_id] = message_id
        message: JSONDict = {
            "message_id": message_id,
            "from": _clone(sender),
            "chat": _clone(chat),
            "date": int(time.time()),
        }
        message.update(content)
        self._messages[(chat_id, message_id)] = message
        return message

    def _reply_target(self, chat: JSONDict, p: JSONDict) -> JSONDict | None:
        reply_id = p.get("reply_to_message_id")
        params = p.get("reply_parameters")
        allow_missing = bool(p.get("allow_sending_without_reply"))
        if isinstance(params, dict):
            reply_id = params.get("message_id")
            allow_missing = allow_missing or bool(params.get("allow_sending_without_reply"))
        if reply_id is None:
            return None
        original = self._messages.get((chat["id"], int(reply_id)))
        if original is None:
            if allow_missing:
                return None
            raise _bad("message to be replied not found")
        return {k: v for k, v in _clone(original).items() if k != "reply_to_message"}

    def _sent_message(self, token: str, chat: JSONDict, p: JSONDict, content: JSONDict) -> JSONDict:
        """Create a bot message with reply target and inline keyboard; record it."""
        reply = self._reply_target(chat, p)
        inline = _check_markup(p.get("reply_markup"))
        if reply is not None:
            content["reply_to_message"] = reply
        if inline is not None:
            content["reply_markup"] = inline
        if p.get("message_thread_id"):
            content["message_thread_id"] = p["message_thread_id"]
        message = self._new_message(chat, self._bot_user(token), content)
        self._sent.append(_clone(message))
        self._notify()
        return _clone(message)

    def _m_send_message(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        chat = self._target_chat(p)
        raw = p.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise _bad("message text is empty")
        text, entities = _render_text(raw, p.get("parse_mode"), p.get("entities"))
        if not text.strip():
            raise _bad("message text is empty")
        if _utf16_len(text) > _MAX_TEXT:
            raise _bad("message is too long")
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        return self._sent_message(token, chat, p, content)

    def _caption(self, p: JSONDict) -> JSONDict:
        raw = p.get("caption")
        if not raw:
            return {}
        text, entities = _render_text(str(raw), p.get("parse_mode"), p.get("caption_entities"))
        if _utf16_len(text) > _MAX_CAPTION:
            raise _bad("message caption is too long")
        return {"caption": text, **({"caption_entities": entities} if entities else {})}

    def _media_sender(self, method_lc: str) -> Callable[[str, JSONDict, dict[str, _Upload]], JSONDict]:
        kind = {
            "sendphoto": "photo",
            "sendaudio": "audio",
            "senddocument": "document",
            "sendvideo": "video",
            "sendanimation": "animation",
            "sendvoice": "voice",
            "sendvideonote": "video_note",
            "sendsticker": "sticker",
        }[method_lc]

        def send(token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
            chat = self._target_chat(p)
            entry = self._input_file(kind, p, files)
            content: JSONDict = {kind: _media_object(kind, entry, p)}
            if kind not in ("sticker", "video_note"):
                content.update(self._caption(p))
            return self._sent_message(token, chat, p, content)

        return send

    def _input_file(self, kind: str, p: JSONDict, files: dict[str, _Upload]) -> _File:
        value = p.get(kind)
        upload = files.get(kind)
        if upload is None and isinstance(value, str) and value.startswith("attach://"):
            upload = files.get(value[len("attach://") :])
        if upload is not None:
            if not upload.data:
                raise _bad("file must be non-empty")
            return self._register_file(kind, upload.data, upload.content_type, upload.filename)
        if isinstance(value, str) and value in self._files:
            return self._files[value]
        if isinstance(value, str) and value.startswith(("http://", "https://")):
            return self._register_file(kind, b"", None, value.rsplit("/", 1)[-1] or None)
        if value:
            raise _bad("wrong file identifier/HTTP URL specified")
        raise _bad(f"there is no {kind} in the request")

    def _register_file(
        self,
        kind: str,
        data: bytes,
        mime_type: str | None = None,
        file_name: str | None = None,
    ) -> _File:
        number = next(self._ids)
        folder, ext, default_mime = {
            "photo": ("photos", ".jpg", "image/jpeg"),
            "audio": ("music", ".mp3", "audio/mpeg"),
            "document": ("documents", "", "application/octet-stream"),
            "video": ("videos", ".mp4", "video/mp4"),
            "animation": ("animations", ".mp4", "video/mp4"),
            "voice": ("voice", ".oga", "audio/ogg"),
            "video_note": ("video_notes", ".mp4", "video/mp4"),
            "sticker": ("stickers", ".webp", "image/webp"),
        }.get(kind, ("documents", "", "application/octet-stream"))
        if file_name and "." in file_name:
            ext = "." + file_name.rsplit(".", 1)[1]
        if mime_type in (None, "", "application/octet-stream") and kind != "document":
            mime_type = default_mime
        entry = _File(
            file_id=f"FAKE{kind.upper()}{number:06d}",
            file_unique_id=f"U{number:06d}",
            data=bytes(data),
            file_path=f"{folder}/file_{number}{ext}",
            mime_type=mime_type or default_mime,
            file_name=file_name,
        )
        self._files[entry.file_id] = entry
        self._files_by_path[entry.file_path] = entry
        return entry

    def _m_send_location(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        chat = self._target_chat(p)
        if not isinstance(p.get("latitude"), float) or not isinstance(p.get("longitude"), float):
            raise _bad("latitude and longitude are required")
        location = {"latitude": p["latitude"], "longitude": p["longitude"]}
        return self._sent_message(token, chat, p, {"location": location})

    def _m_send_chat_action(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        self._target_chat(p)
        if p.get("action") not in _CHAT_ACTIONS:
            raise _bad("wrong parameter action in request")
        return True

    def _editable(self, p: JSONDict) -> JSONDict:
        if p.get("inline_message_id"):
            return {}
        chat = self._target_chat(p)
        message_id = p.get("message_id")
        if not isinstance(message_id, int):
            raise _bad("message identifier is not specified")
        message = self._messages.get((chat["id"], message_id))
        if message is None:
            raise _bad("message to edit not found")
        if not message["from"].get("is_bot"):
            raise _bad("message can't be edited")
        return message

    def _apply_edit(self, message: JSONDict, changes: JSONDict, p: JSONDict) -> JSONDict | bool:
        inline = _check_markup(p.get("reply_markup"))
        if not message:  # inline message: Telegram answers True
            return True
        # A missing key and a None value both mean "absent": .get() compares them alike.
        unchanged = all(message.get(k) == v for k, v in changes.items())
        if unchanged and message.get("reply_markup") == inline:
            raise _bad(
                "message is not modified: specified new message content and reply "
                "markup are exactly the same as a specified content and reply markup "
                "of the message"
            )
        for key, value in changes.items():
            if value is None:
                message.pop(key, None)
            else:
                message[key] = value
        if inline is None:
            message.pop("reply_markup", None)
        else:
            message["reply_markup"] = inline
        message["edit_date"] = int(time.time())
        self._notify()
        return _clone(message)

    def _m_edit_message_text(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict | bool:
        raw = p.get("text")
        if not isinstance(raw, str) or not raw.strip():
            raise _bad("message text is empty")
        message = self._editable(p)
        if message and "text" not in message:
            raise _bad("there is no text in the message to edit")
        text, entities = _render_text(raw, p.get("parse_mode"), p.get("entities"))
        if _utf16_len(text) > _MAX_TEXT:
            raise _bad("MESSAGE_TOO_LONG")
        return self._apply_edit(message, {"text": text, "entities": entities or None}, p)

    def _m_edit_message_caption(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict | bool:
        message = self._editable(p)
        caption = self._caption(p)
        return self._apply_edit(
            message,
            {
                "caption": caption.get("caption"),
                "caption_entities": caption.get("caption_entities"),
            },
            p,
        )

    def _m_edit_message_reply_markup(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict | bool:
        return self._apply_edit(self._editable(p), {}, p)

    def _m_delete_message(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        chat = self._target_chat(p)
        message_id = p.get("message_id")
        if self._messages.pop((chat["id"], message_id), None) is None:  # type: ignore[arg-type]
            raise _bad("message to delete not found")
        self._notify()
        return True

    def _m_answer_callback_query(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        query_id = str(p.get("callback_query_id") or "")
        query = self._callback_queries.get(query_id)
        if query is None or query.get("answered"):
            raise _bad("query is too old and response timeout expired or query ID is invalid")
        if len(str(p.get("text") or "")) > 200:
            raise _bad("MESSAGE_TOO_LONG")
        query["answered"] = True
        query["answer"] = {k: v for k, v in p.items() if k != "callback_query_id"}
        return True

    def _m_get_file(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        entry = self._files.get(str(p.get("file_id") or ""))
        if entry is None:
            raise _bad("invalid file_id")
        return {
            "file_id": entry.file_id,
            "file_unique_id": entry.file_unique_id,
            "file_size": len(entry.data),
            "file_path": entry.file_path,
        }

    @staticmethod
    def _commands_key(p: JSONDict) -> str:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True) + "|" + str(p.get("language_code") or "")

    def _m_set_my_commands(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        commands = p.get("commands")
        if not isinstance(commands, list) or len(commands) > 100:
            raise _bad('parameter "commands" must be an array of at most 100 BotCommand')
        for command in commands:
            if not isinstance(command, dict) or not _COMMAND_RE.match(str(command.get("command", ""))):
                raise _bad("BOT_COMMAND_INVALID")
            if not 1 <= len(str(command.get("description", ""))) <= 256:
                raise _bad(
                    "command description is empty"
                    if not command.get("description")
                    else "BOT_COMMAND_DESCRIPTION_INVALID"
                )
        self._commands[self._commands_key(p)] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    def _m_get_my_commands(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> list[JSONDict]:
        return _clone(self._commands.get(self._commands_key(p), []))

    def _m_delete_my_commands(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    def _source_message(self, p: JSONDict, verb: str) -> JSONDict:
        source_chat = self._target_chat(p, "from_chat_id")
        message = self._messages.get((source_chat["id"], p.get("message_id")))  # type: ignore[arg-type]
        if message is None:
            raise _bad(f"message to {verb} not found")
        return message

    def _m_copy_message(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        source = self._source_message(p, "copy")
        chat = self._target_chat(p)
        content = {k: _clone(v) for k, v in source.items() if k not in _ENVELOPE_KEYS}
        if "caption" in p:
            content.pop("caption", None)
            content.update(self._caption(p))
        message = self._sent_message(token, chat, p, content)
        return {"message_id": message["message_id"]}

    def _m_forward_message(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        source = self._source_message(p, "forward")
        chat = self._target_chat(p)
        content = {k: _clone(v) for k, v in source.items() if k not in _ENVELOPE_KEYS}
        origin_chat = source["chat"]
        if origin_chat["type"] == "private":
            content["forward_origin"] = {
                "type": "user",
                "date": source["date"],
                "sender_user": source["from"],
            }
        else:
            content["forward_origin"] = {
                "type": "chat",
                "date": source["date"],
                "sender_chat": origin_chat,
            }
        return self._sent_message(token, chat, {k: v for k, v in p.items() if k != "reply_markup"}, content)

    def _m_get_chat(self, token: str, p: JSONDict, files: dict[str, _Upload]) -> JSONDict:
        chat = self._target_chat(p)
        return {
            **_clone(chat),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
            },
        }

    # ------------------------------------------------------------------ pushing updates

    def _user(self, user_id: int, **fields: Any) -> JSONDict:
        user = self._users.setdefault(user_id, {"id": user_id, "is_bot": False, "first_name": "Tester"})
        user.update({k: v for k, v in fields.items() if v is not None})
        return _clone(user)

    def _enqueue(self, update: JSONDict) -> Pushed:
        if "update_id" not in update:
            update["update_id"] = self._next_update_id
        self._next_update_id = max(self._next_update_id, int(update["update_id"])) + 1
        self._updates.append(update)
        self._notify()
        return Pushed(update["update_id"], _clone(update))

    def _push_message(self, chat_id: int, user_id: int, content: JSONDict, options: PushOptions) -> Pushed:
        with self._lock:
            user = self._user(
                user_id,
                first_name=options.get("first_name"),
                last_name=options.get("last_name"),
                username=options.get("username"),
                language_code=options.get("language_code"),
            )
            chat_type = options.get("chat_type") or ("private" if chat_id > 0 else "supergroup")
            if chat_type == "private":
                extra = {
                    "first_name": user["first_name"],
                    "last_name": user.get("last_name"),
                    "username": user.get("username"),
                }
            else:
                extra = {"title": options.get("chat_title")}
            chat = self._ensure_chat(chat_id, chat_type, **extra)
            reply_id = options.get("reply_to_message_id")
            if reply_id is not None:
                original = self._messages.get((chat_id, reply_id))
                if original is None:
                    raise KeyError(f"no message {reply_id} in chat {chat_id} to reply to")
                content["reply_to_message"] = {k: v for k, v in _clone(original).items() if k != "reply_to_message"}
            message = self._new_message(chat, user, content)
            return self._enqueue({"message": _clone(message)})

    def push_text(
        self,
        chat_id: int,
        user_id: int,
        text: str,
        chat_type: str | None = None,
        reply_to_message_id: int | None = None,
        first_name: str | None = None,
        username: str | None = None,
        *,
        last_name: str | None = None,
        language_code: str | None = None,
        chat_title: str | None = None,
        entities: list[JSONDict] | None = None,
    ) -> Pushed:
        """Inject a text message from `user_id` in `chat_id`.

        `chat_type` defaults to "private" for positive chat ids and "supergroup" for
        negative ones; `chat_title` names a group; user fields persist across pushes.
        """
        content: JSONDict = {"text": text}
        if entities:
            content["entities"] = entities
        options: PushOptions = {
            "chat_type": chat_type,
            "chat_title": chat_title,
            "reply_to_message_id": reply_to_message_id,
            "first_name": first_name,
            "last_name": last_name,
            "username": username,
            "language_code": language_code,
        }
        return self._push_message(chat_id, user_id, content, options)

    def push_command(
        self,
        chat_id: int,
        user_id: int,
        command: str,
        args: str = "",
        *,
        mention_bot: bool = False,
        **options: Unpack[PushOptions],
    ) -> Pushed:
        """Inject a command like "/start" (text with a bot_command entity);
        `mention_bot` writes it as "/start@<bot_username>" as in groups."""
        command = command if command.startswith("/") else f"/{command}"
        if mention_bot:
            command = f"{command}@{self.bot_username}"
        text = f"{command} {args}" if args else command
        entity = {"type": "bot_command", "offset": 0, "length": _utf16_len(command)}
        return self._push_message(chat_id, user_id, {"text": text, "entities": [entity]}, options)

    def _push_file(
        self,
        chat_id: int,
        user_id: int,
        kind: str,
        upload: _Upload,
        fields: JSONDict,
        options: PushOptions,
        caption: str | None = None,
    ) -> Pushed:
        with self._lock:
            entry = self._register_file(kind, upload.data, upload.content_type, upload.filename)
            media: JSONDict = {
                "file_id": entry.file_id,
                "file_unique_id": entry.file_unique_id,
                "file_size": len(entry.data),
                **fields,
            }
            if kind in ("voice", "document", "audio"):
                media["mime_type"] = entry.mime_type
            content: JSONDict = {kind: [media] if kind == "photo" else media}
            if caption:
                content["caption"] = caption
            return self._push_message(chat_id, user_id, content, options)

    def push_voice(
        self,
        chat_id: int,
        user_id: int,
        ogg_bytes: bytes,
        duration: int = 1,
        **options: Unpack[PushOptions],
    ) -> Pushed:
        """Inject a voice message; getFile + download of its file give `ogg_bytes`."""
        upload = _Upload(ogg_bytes, None, "audio/ogg")
        fields = {"duration": int(duration)}
        return self._push_file(chat_id, user_id, "voice", upload, fields, options)

    def push_photo(
        self,
        chat_id: int,
        user_id: int,
        image_bytes: bytes,
        caption: str | None = None,
        width: int = 800,
        height: int = 600,
        **options: Unpack[PushOptions],
    ) -> Pushed:
        """Inject a photo (one PhotoSize) whose file downloads as `image_bytes`."""
        upload = _Upload(image_bytes, None, "image/jpeg")
        fields = {"width": width, "height": height}
        return self._push_file(chat_id, user_id, "photo", upload, fields, options, caption)

    def push_document(
        self,
        chat_id: int,
        user_id: int,
        data: bytes,
        file_name: str = "file.txt",
        mime_type: str = "text/plain",
        caption: str | None = None,
        **options: Unpack[PushOptions],
    ) -> Pushed:
        """Inject a document whose file downloads as `data`."""
        upload = _Upload(data, file_name, mime_type)
        fields = {"file_name": file_name}
        return self._push_file(chat_id, user_id, "document", upload, fields, options, caption)

    def push_sticker(
        self,
        chat_id: int,
        user_id: int,
        emoji: str = "😀",
        sticker_bytes: bytes = b"RIFF\x00\x00\x00\x00WEBPVP8 ",
        **options: Unpack[PushOptions],
    ) -> Pushed:
        """Inject a regular (static) sticker."""
        upload = _Upload(sticker_bytes, None, "image/webp")
        fields = {
            "type": "regular",
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "emoji": emoji,
        }
        return self._push_file(chat_id, user_id, "sticker", upload, fields, options)

    def push_location(
        self,
        chat_id: int,
        user_id: int,
        latitude: float,
        longitude: float,
        **options: Unpack[PushOptions],
    ) -> Pushed:
        """Inject a location message."""
        location = {"latitude": float(latitude), "longitude": float(longitude)}
        return self._push_message(chat_id, user_id, {"location": location}, options)

    def push_callback(
        self,
        chat_id: int,
        user_id: int,
        message_id: int,
        data: str,
        **user: Unpack[UserOptions],
    ) -> Pushed:
        """Inject a button press (CallbackQuery) on message `message_id` of `chat_id`.

        The message (normally one the bot sent with an inline keyboard) is included as
        Telegram does; a KeyError says when it does not exist.
        """
        with self._lock:
            message = self._messages.get((chat_id, message_id))
            if message is None:
                known = sorted(mid for cid, mid in self._messages if cid == chat_id)
                raise KeyError(f"no message {message_id} in chat {chat_id}; known ids: {known}")
            query_id = str(next(self._ids) * 1_000_003)
            query = {
                "id": query_id,
                "from": self._user(user_id, **user),
                "message": _clone(message),
                "chat_instance": str(abs(hash(str(chat_id)))),
                "data": data,
            }
            self._callback_queries[query_id] = {"answered": False}
            return self._enqueue({"callback_query": query})

    def push_raw(self, update: JSONDict) -> Pushed:
        """Inject any update JSON (an `update_id` is assigned when missing)."""
        with self._lock:
            return self._enqueue(_clone(update))

    # ------------------------------------------------------------------ setup helpers

    def register_chat(
        self,
        chat_id: int,
        chat_type: str | None = None,
        *,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSONDict:
        """Create or update a chat (e.g. the staff supergroup) with its title."""
        with self._lock:
            return _clone(
                self._ensure_chat(
                    chat_id,
                    chat_type,
                    title=title,
                    username=username,
                    first_name=first_name,
                )
            )

    def set_blocked(self, chat_id: int, blocked: bool = True) -> None:
        """Make sends to `chat_id` fail with 403 like a user who blocked the bot."""
        with self._lock:
            (self._blocked.add if blocked else self._blocked.discard)(str(chat_id))

    # ------------------------------------------------------------- failure injection

    @staticmethod
    def _methods(methods: Iterable[str] | None) -> frozenset[str] | None:
        return None if methods is None else frozenset(m.lower() for m in methods)

    def fail_next(
        self,
        n: int = 1,
        status: int = 500,
        *,
        methods: Iterable[str] | None = None,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer the next `n` API calls with HTTP `status` and ok=false.

        `methods` limits this to those methods (case-insensitive; "downloadFile" names
        file downloads); by default every Bot API method counts, getUpdates included.
        `retry_after` adds Telegram's flood-wait parameter (use with status 429).
        """
        with self._lock:
            self._rules.append(
                _Rule(
                    "fail",
                    n,
                    None,
                    self._methods(methods),
                    status,
                    description=description or _describe_error(status),
                    retry_after=retry_after,
                )
            )

    def fail_for(
        self,
        seconds: float,
        status: int = 500,
        *,
        methods: Iterable[str] | None = None,
        description: str | None = None,
        retry_after: int | None = None,
    ) -> None:
        """Answer every API call (of `methods`) with HTTP `status` for `seconds`."""
        with self._lock:
            self._rules.append(
                _Rule(
                    "fail",
                    None,
                    time.monotonic() + seconds,
                    self._methods(methods),
                    status,
                    description=description or _describe_error(status),
                    retry_after=retry_after,
                )
            )

    def delay_next(self, n: int, seconds: float, *, methods: Iterable[str] | None = None) -> None:
        """Hold the next `n` API calls (of `methods`) for `seconds` before handling.

        The call still takes effect after the delay (as on Telegram when the client has
        already timed out) and is recorded then.
        """
        with self._lock:
            self._rules.append(_Rule("delay", n, None, self._methods(methods), seconds=seconds))

    def set_down(self, down: bool = True) -> None:
        """While down, every API call and file download answers 502 Bad Gateway."""
        with self._lock:
            self._down = down

    def reset_failures(self) -> None:
        """Drop all pending failure and delay injections and come back up."""
        with self._lock:
            self._rules.clear()
            self._down = False

    # ------------------------------------------------------------------ inspection

    def calls(
        self,
        method: str | None = None,
        chat_id: int | str | None = None,
        *,
        since: int = 0,
    ) -> list[Call]:
        """Recorded calls from index `since`, optionally of `method` / to `chat_id`."""
        method_lc = method.lower() if method else None
        with self._lock:
            return [
                c
                for c in self._calls[since:]
                if (method_lc is None or c.method.lower() == method_lc)
                and (chat_id is None or _same_chat(c.chat_id, chat_id))
            ]

    def mark(self) -> int:
        """The current length of the call log, to pass as `since=` to later queries."""
        with self._lock:
            return len(self._calls)

    def clear_calls(self) -> None:
        """Forget the recorded calls and webhook deliveries."""
        with self._lock:
            self._calls.clear()
            self._deliveries.clear()

    def sent_messages(self, chat_id: int | str | None = None) -> list[JSONDict]:
        """Messages the bot sent (sendMessage, sendVoice, copyMessage, ...) in order, as
        returned at send time; `chat_id=None` means all chats."""
        with self._lock:
            return [_clone(m) for m in self._sent if chat_id is None or _same_chat(m["chat"]["id"], chat_id)]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """A message as it is now (edits applied); None if unknown or deleted."""
        with self._lock:
            found = self._messages.get((chat_id, message_id))
            return _clone(found) if found else None

    def file_content(self, file_id: str) -> bytes:
        """The bytes of a pushed or uploaded file."""
        with self._lock:
            return self._files[file_id].data

    def callback_answer(self, callback_query_id: str) -> JSONDict | None:
        """The answerCallbackQuery parameters for that query; None if unanswered."""
        with self._lock:
            query = self._callback_queries.get(callback_query_id) or {}
            return _clone(query.get("answer"))

    def pending_updates(self) -> list[JSONDict]:
        """Updates not yet confirmed by getUpdates or delivered to the webhook."""
        with self._lock:
            return _clone(self._updates)

    def commands(self, scope: JSONDict | None = None, language_code: str | None = None) -> list[JSONDict]:
        """The commands set with setMyCommands for that scope and language."""
        with self._lock:
            return _clone(
                self._commands.get(
                    self._commands_key({"scope": scope, "language_code": language_code}),
                    [],
                )
            )

    @property
    def webhook_url(self) -> str | None:
        """The URL the bot registered with setWebhook, or None in polling mode."""
        with self._lock:
            return self._webhook.get("url") or None

    @property
    def webhook_secret(self) -> str | None:
        """The secret_token the bot registered with setWebhook."""
        with self._lock:
            return self._webhook.get("secret_token")

    def webhook_deliveries(self) -> list[WebhookDelivery]:
        """Every POST made to the webhook, in order."""
        with self._lock:
            return list(self._deliveries)

    # ------------------------------------------------------------------ waiting

    @staticmethod
    def _refuse_inside_loop(name: str) -> None:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return
        raise RuntimeError(
            f"{name}() blocks the thread; inside a coroutine use "
            f"`await {name}_async()` so the bot's event loop keeps running"
        )

    def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 10.0,
        what: str | None = None,
    ) -> T:
        """Block until `predicate()` returns something truthy; return it.

        Raises TimeoutError listing the calls seen when `timeout` passes first.
        """
        self._refuse_inside_loop("wait_for")
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                value = predicate()
                if value:
                    return value
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(what or _describe(predicate), timeout))
                self._cond.wait(min(remaining, 0.05))

    async def wait_for_async(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 10.0,
        what: str | None = None,
    ) -> T:
        """`wait_for` for coroutines: awaits without blocking the event loop."""
        loop = asyncio.get_running_loop()
        event = asyncio.Event()
        key = (loop, event)
        with self._lock:
            self._async_waiters.add(key)
        try:
            deadline = loop.time() + timeout
            while True:
                event.clear()
                value = predicate()
                if value:
                    return value
                remaining = deadline - loop.time()
                if remaining <= 0:
                    raise TimeoutError(self._timeout_message(what or _describe(predicate), timeout))
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(event.wait(), min(remaining, 0.05))
        finally:
            with self._lock:
                self._async_waiters.discard(key)

    def _call_predicate(
        self,
        method: str,
        chat_id: int | str | None,
        count: int,
        since: int,
        ok: bool | None,
    ) -> Callable[[], Call | None]:
        def found() -> Call | None:
            matching = [c for c in self.calls(method, chat_id, since=since) if ok is None or c.ok == ok]
            return matching[count - 1] if len(matching) >= count else None

        return found

    @staticmethod
    def _call_what(method: str, chat_id: int | str | None, count: int, since: int, ok: bool | None) -> str:
        what = f"{count} x {method}"
        if chat_id is not None:
            what += f" to chat {chat_id}"
        if ok is not None:
            what += " (successful)" if ok else " (failed)"
        return what + (f" since call #{since}" if since else "")

    def wait_for_call(
        self,
        method: str,
        chat_id: int | str | None = None,
        count: int = 1,
        timeout: float = 10.0,
        *,
        since: int = 0,
        ok: bool | None = None,
    ) -> Call:
        """Block until `count` calls of `method` (to `chat_id`, from index `since`, only
        successful/failed ones if `ok` is given) were seen; return the `count`-th."""
        self._refuse_inside_loop("wait_for_call")
        return self.wait_for(
            self._call_predicate(method, chat_id, count, since, ok),
            timeout,
            self._call_what(method, chat_id, count, since, ok),
        )

    async def wait_for_call_async(
        self,
        method: str,
        chat_id: int | str | None = None,
        count: int = 1,
        timeout: float = 10.0,
        *,
        since: int = 0,
        ok: bool | None = None,
    ) -> Call:
        """`wait_for_call` for coroutines."""
        return await self.wait_for_async(
            self._call_predicate(method, chat_id, count, since, ok),
            timeout,
            self._call_what(method, chat_id, count, since, ok),
        )

    def _timeout_message(self, what: str, timeout: float, limit: int = 40) -> str:
        with self._lock:
            calls = list(self._calls)
            pending = len(self._updates)
            webhook = self._webhook.get("url")
        idle_polls = sum(1 for c in calls if c.method == "getUpdates" and c.ok and not c.result)
        shown = [c for c in calls if not (c.method == "getUpdates" and c.ok and not c.result)]
        lines = [
            f"timed out after {timeout:g}s waiting for {what}.",
            (
                f"{len(calls)} calls seen ({idle_polls} empty getUpdates not listed); "
                f"{pending} updates pending; webhook: {webhook or 'none'}"
            ),
        ]
        if len(shown) > limit:
            lines.append(f"  ... {len(shown) - limit} earlier calls")
        lines.extend(f"  {self._format_call(c)}" for c in shown[-limit:])
        return "\n".join(lines)

    def _format_call(self, call: Call) -> str:
        details = []
        for key in (
            "chat_id",
            "message_id",
            "text",
            "caption",
            "data",
            "action",
            "offset",
            "callback_query_id",
        ):
            if key in call.params:
                value = repr(call.params[key])
                details.append(f"{key}={value[:60] + '...' if len(value) > 60 else value}")
        if call.files:
            details.append("files=" + ",".join(f"{k}({len(v)}B)" for k, v in call.files.items()))
        outcome = "ok" if call.ok else f"{call.status} {call.response.get('description', '')}"
        if call.method == "getUpdates" and call.ok:
            outcome += f" ({len(call.result or [])} updates)"
        at = call.time - self._started_at
        return f"+{at:7.3f}s {call.method}({', '.join(details)}) -> {outcome}"

    # ------------------------------------------------------------- raw webhook posts

    def _raw_future(
        self,
        update: JSONDict | bytes | str,
        secret: str | None,
        url: str | None,
        content_type: str,
    ) -> concurrent.futures.Future[RawResponse]:
        if self._loop is None:
            raise RuntimeError("FakeTelegramAPI is not started")
        target = url or self.webhook_url
        if not target:
            raise RuntimeError("no webhook URL: the bot has not called setWebhook (pass url=)")
        if isinstance(update, dict):
            body = json.dumps(update).encode()
            update_id = update.get("update_id")
        else:
            body = update.encode() if isinstance(update, str) else bytes(update)
            update_id = None

        async def post() -> RawResponse:
            response = await self._post(target, body, secret, content_type)
            with self._lock:
                self._deliveries.append(
                    WebhookDelivery(
                        update_id,
                        target,
                        None if isinstance(response, str) else response.status,
                        response if isinstance(response, str) else None,
                        time.time(),
                        raw=True,
                    )
                )
                self._notify()
            if isinstance(response, str):
                raise ConnectionError(f"webhook {target} unreachable: {response}")
            return response

        return asyncio.run_coroutine_threadsafe(post(), self._loop)

    def post_raw_update(
        self,
        update: JSONDict | bytes | str,
        secret: str | None = None,
        *,
        url: str | None = None,
        content_type: str = "application/json",
        timeout: float = 15.0,
    ) -> RawResponse:
        """POST `update` to the registered webhook (or `url`) and return the answer.

        `secret` goes in the X-Telegram-Bot-Api-Secret-Token header (None: no header);
        `update` may be bytes/str to send a malformed body.
        """
        self._refuse_inside_loop("post_raw_update")
        return self._raw_future(update, secret, url, content_type).result(timeout)

    async def post_raw_update_async(
        self,
        update: JSONDict | bytes | str,
        secret: str | None = None,
        *,
        url: str | None = None,
        content_type: str = "application/json",
        timeout: float = 15.0,
    ) -> RawResponse:
        """`post_raw_update` for coroutines."""
        future = self._raw_future(update, secret, url, content_type)
        return await asyncio.wait_for(asyncio.wrap_future(future), timeout)


_ENVELOPE_KEYS = frozenset(_words("message_id from chat date edit_date reply_to_message reply_markup forward_origin"))


def _describe(predicate: Callable[..., object]) -> str:
    """The source line of a predicate (for lambdas) or its name."""
    try:
        return inspect.getsource(predicate).strip()
    except (OSError, TypeError):
        return getattr(predicate, "__qualname__", repr(predicate))


def _update_type(update: JSONDict) -> str:
    return next((k for k in _UPDATE_TYPES if k in update), "unknown")


def _normalize(params: JSONDict) -> JSONDict:
    """Decode form values as the Bot API does: JSON fields, ints, bools, floats."""
    out: JSONDict = {}
    for key, value in params.items():
        if isinstance(value, str):
            if key in _JSON_FIELDS:
                try:
                    value = json.loads(value)
                except ValueError as exc:
                    raise _bad(f"can't parse {key} JSON object") from exc
            elif key in _INT_FIELDS and _INT_RE.match(value.strip()):
                value = int(value)
            elif key in _BOOL_FIELDS:
                value = value.strip().lower() in ("true", "1")
            elif key in _FLOAT_FIELDS:
                try:
                    value = float(value)
                except ValueError as exc:
                    raise _bad(f"wrong {key} specified") from exc
        elif key in _FLOAT_FIELDS and isinstance(value, int):
            value = float(value)
        out[key] = value
    return out


def _check_markup(markup: Any) -> JSONDict | None:
    """Validate reply_markup like Telegram.

    Returns it if it is an inline keyboard (the only kind a Message echoes), else None.
    """
    if markup is None:
        return None
    if not isinstance(markup, dict):
        raise _bad("can't parse reply keyboard markup JSON object")
    if "inline_keyboard" in markup:
        rows = markup["inline_keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad('field "inline_keyboard" of the InlineKeyboardMarkup should be an Array of Arrays')
        for button in itertools.chain.from_iterable(rows):
            if not isinstance(button, dict) or not button.get("text"):
                raise _bad("can't parse inline keyboard button: Text must be non-empty")
            if not _INLINE_BUTTON_ACTIONS & set(button):
                raise _bad("can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard")
            data = button.get("callback_data")
            if data is not None and not 1 <= len(str(data).encode()) <= 64:
                raise _bad("BUTTON_DATA_INVALID")
        return _clone(markup)
    if "keyboard" in markup:
        rows = markup["keyboard"]
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad('field "keyboard" of the ReplyKeyboardMarkup should be an Array of Arrays')
        for button in itertools.chain.from_iterable(rows):
            text = button if isinstance(button, str) else button.get("text") if isinstance(button, dict) else None
            if not text:
                raise _bad("can't parse keyboard button: Text must be non-empty")
        return None
    if markup.get("remove_keyboard") or markup.get("force_reply"):
        return None
    raise _bad("can't parse reply keyboard markup JSON object")


def _media_object(kind: str, entry: _File, p: JSONDict) -> Any:
    base: JSONDict = {
        "file_id": entry.file_id,
        "file_unique_id": entry.file_unique_id,
        "file_size": len(entry.data),
    }
    duration = int(p.get("duration") or 0)
    if kind == "photo":
        return [
            {
                **base,
                "width": int(p.get("width") or 800),
                "height": int(p.get("height") or 600),
            }
        ]
    if kind == "voice":
        return {**base, "duration": duration, "mime_type": entry.mime_type}
    if kind == "audio":
        extra = {k: p[k] for k in ("title", "performer") if p.get(k)}
        return {
            **base,
            "duration": duration,
            "mime_type": entry.mime_type,
            **({"file_name": entry.file_name} if entry.file_name else {}),
            **extra,
        }
    if kind == "document":
        return {
            **base,
            "file_name": entry.file_name or "document",
            "mime_type": entry.mime_type,
        }
    if kind in ("video", "animation"):
        return {
            **base,
            "width": int(p.get("width") or 640),
            "height": int(p.get("height") or 360),
            "duration": duration,
            "mime_type": entry.mime_type,
        }
    if kind == "video_note":
        return {**base, "length": int(p.get("length") or 240), "duration": duration}
    return {
        **base,
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
        **({"emoji": p["emoji"]} if p.get("emoji") else {}),
    }
