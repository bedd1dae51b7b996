"""A small Telegram Bot API in memory: the methods the bridge calls, and the updates it receives.

`BotApi.handle(method, params, files)` answers as Telegram would (status, JSON body) and
records every call. Two ways in, as python-telegram-bot tests itself:
- `OfflineRequest(api)`: a `telegram.request.BaseRequest` that hands each request to the
  BotApi in-process, no network (tests build the Application with it and feed updates to
  `Application.process_update`);
- `tests/fakes/http_api.py`: the same BotApi behind a local HTTP server, for what needs real
  HTTP (polling, webhook, SIGKILL of `python -m bot`, outages and timeouts).
Parameters arrive as python-telegram-bot sends them (`RequestData.json_parameters`: strings,
JSON for objects), so both ways share one parser.
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from telegram.request import BaseRequest, RequestData

JSON = dict[str, Any]
BOT_ID = 123456789
_JSON_PARAMS = {"reply_markup", "reply_parameters", "allowed_updates", "link_preview_options"}
_INT_PARAMS = {"chat_id", "message_id", "offset", "limit", "timeout", "reply_to_message_id", "duration"}


def parse_params(raw: dict[str, str]) -> JSON:
    """Form/JSON-encoded parameters → Python values (objects decoded, ids as ints)."""
    out: JSON = {}
    for key, value in raw.items():
        if key in _JSON_PARAMS:
            out[key] = json.loads(value)
        elif key in _INT_PARAMS and str(value).lstrip("-").isdigit():
            out[key] = int(value)
        elif value in ("true", "false") and key.startswith(("show_", "allow_", "disable_", "drop_")):
            out[key] = value == "true"
        else:
            out[key] = value
    return out


@dataclass
class Call:
    """One Bot API request and what it was answered."""

    method: str
    params: JSON
    files: dict[str, bytes]
    status: int
    result: Any

    @property
    def ok(self) -> bool:
        return self.status == 200

    @property
    def chat_id(self) -> int | None:
        value = self.params.get("chat_id")
        return int(value) if isinstance(value, int | str) and str(value).lstrip("-").isdigit() else None


@dataclass
class Failure:
    """Answer `status` to `methods` (all when empty) until `until` (monotonic), or `count` times
    (a 429 says `retry_after` seconds, as Telegram's flood control does)."""

    status: int
    methods: frozenset[str] = frozenset()
    until: float = float("inf")
    count: int | None = None
    retry_after: int | None = None

    def applies(self, method: str) -> bool:
        return (not self.methods or method in self.methods) and time.monotonic() < self.until and self.count != 0


_api_ids = itertools.count(1)


@dataclass
class BotApi:
    bot_id: int = BOT_ID
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[int, int], JSON] = field(default_factory=dict)
    callback_answers: dict[str, JSON] = field(default_factory=dict)
    blocked: set[int] = field(default_factory=set)
    failures: list[Failure] = field(default_factory=list)
    chat_titles: dict[int, str] = field(default_factory=dict)
    files: dict[str, bytes] = field(default_factory=dict)  # file_id → the bytes getFile serves

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        # Message ids as Telegram's: never the same twice in a chat, even across the tests of a
        # session that share one ticket database (a card is remembered by chat and message id).
        self._ids = itertools.count(next(_api_ids) * 100_000 + 1)
        self._changed = threading.Condition(self._lock)

    # -- answering ----------------------------------------------------------------------------
    @property
    def bot_user(self) -> JSON:
        return {"id": self.bot_id, "is_bot": True, "first_name": "寻乌助残助手", "username": "xunwu_test_bot"}

    def chat(self, chat_id: int) -> JSON:
        if chat_id < 0:
            return {"id": chat_id, "type": "supergroup", "title": self.chat_titles.get(chat_id, "staff")}
        return {"id": chat_id, "type": "private", "first_name": f"user{chat_id}"}

    def fail(
        self,
        status: int = 500,
        *,
        seconds: float | None = None,
        count: int | None = None,
        methods: tuple[str, ...] = (),
        retry_after: int | None = None,
    ) -> None:
        """Make the next calls fail: for `seconds`, or `count` times, to `methods` (all when empty)."""
        until = time.monotonic() + seconds if seconds is not None else float("inf")
        if status == 429 and retry_after is None:
            retry_after = 5
        with self._lock:
            self.failures.append(Failure(status, frozenset(methods), until, count, retry_after))

    def reset_failures(self) -> None:
        with self._lock:
            self.failures.clear()

    def handle(self, method: str, params: JSON, files: dict[str, bytes] | None = None) -> tuple[int, JSON]:
        """Answer one call (status, body) and record it."""
        files = files or {}
        with self._changed:
            status, result, description = self._answer(method, params, files)
            self.calls.append(Call(method, params, files, status, result))
            self._changed.notify_all()
        if status == 200:
            return status, {"ok": True, "result": result}
        body: JSON = {"ok": False, "error_code": status, "description": description}
        if status == 429 and isinstance(result, int):
            body["parameters"] = {"retry_after": result}
        return status, body

    def _answer(self, method: str, p: JSON, files: dict[str, bytes]) -> tuple[int, Any, str]:
        for failure in self.failures:
            if failure.applies(method):
                if failure.count is not None:
                    failure.count -= 1
                if failure.status == 429:
                    return 429, failure.retry_after, f"Too Many Requests: retry after {failure.retry_after}"
                return failure.status, None, "Internal Server Error" if failure.status >= 500 else "Bad Request"
        if method == "getMe":
            return 200, self.bot_user, ""
        if method in ("deleteWebhook", "setWebhook", "sendChatAction", "close", "logOut"):
            return 200, True, ""
        if method == "getUpdates":
            return 200, [], ""
        if method == "getFile":
            file_id = str(p.get("file_id", ""))
            if file_id not in self.files:
                return 400, None, "Bad Request: invalid file_id"
            path = f"voice/{file_id}.oga"
            return (
                200,
                {
                    "file_id": file_id,
                    "file_unique_id": f"u-{file_id}",
                    "file_size": len(self.files[file_id]),
                    "file_path": path,
                },
                "",
            )
        if method == "answerCallbackQuery":
            self.callback_answers[str(p["callback_query_id"])] = {
                "text": p.get("text"),
                "show_alert": bool(p.get("show_alert", False)),
            }
            return 200, True, ""
        chat_id = int(p["chat_id"])
        if chat_id in self.blocked:
            return 403, None, "Forbidden: bot was blocked by the user"
        if method == "editMessageText":
            message = self.messages.get((chat_id, int(p["message_id"])))
            if message is None:
                return 400, None, "Bad Request: message to edit not found"
            if message.get("text") == p["text"] and message.get("reply_markup") == p.get("reply_markup"):
                return 400, None, "Bad Request: message is not modified"
            message["text"] = p["text"]
            message.pop("reply_markup", None)
            if p.get("reply_markup", {}).get("inline_keyboard"):
                message["reply_markup"] = p["reply_markup"]
            return 200, dict(message), ""
        content = self._content(method, p, files)
        if content is None:
            return 400, None, f"Bad Request: method {method} is not known to the fake"
        message = {
            "message_id": next(self._ids),
            "date": int(time.time()),
            "chat": self.chat(chat_id),
            "from": self.bot_user,
            **content,
        }
        if isinstance(p.get("reply_markup"), dict) and p["reply_markup"].get("inline_keyboard"):
            message["reply_markup"] = p["reply_markup"]
        self.messages[(chat_id, message["message_id"])] = message
        return 200, dict(message), ""

    def _content(self, method: str, p: JSON, files: dict[str, bytes]) -> JSON | None:
        if method == "sendMessage":
            return {"text": p["text"]}
        if method == "sendVoice":
            file_id = p.get("voice") if isinstance(p.get("voice"), str) else f"voice-{len(self.calls)}"
            voice = {"file_id": file_id, "file_unique_id": f"u-{file_id}", "duration": 1}
            return {"voice": voice, **({"caption": p["caption"]} if p.get("caption") else {})}
        if method == "sendPhoto":
            photo = {"file_id": f"photo-{len(self.calls)}", "file_unique_id": "p", "width": 1, "height": 1}
            return {"photo": [photo], "caption": p.get("caption", "")}
        return None

    def add_file(self, file_id: str, data: bytes) -> JSON:
        """A file residents can send (its `voice` object); the bridge downloads it through getFile."""
        self.files[file_id] = data
        return {
            "file_id": file_id,
            "file_unique_id": f"u-{file_id}",
            "duration": 3,
            "mime_type": "audio/ogg",
            "file_size": len(data),
        }

    def download(self, file_path: str) -> tuple[int, bytes]:
        """A file's bytes, as Telegram serves `/file/bot<token>/<file_path>` (recorded as a call)."""
        file_id = file_path.removeprefix("voice/").removesuffix(".oga")
        data = self.files.get(file_id)
        with self._changed:
            self.calls.append(
                Call("downloadFile", {"file_path": file_path}, {}, 200 if data is not None else 404, None)
            )
            self._changed.notify_all()
        return (200, data) if data is not None else (404, b"Not Found")

    # -- what the tests look at -----------------------------------------------------------------
    def sent(self, method: str = "sendMessage", chat_id: int | None = None, since: int = 0) -> list[Call]:
        """Successful calls of `method` (to `chat_id`), from call number `since` on."""
        with self._lock:
            calls = self.calls[since:]
        return [c for c in calls if c.method == method and c.ok and (chat_id is None or c.chat_id == chat_id)]

    def texts(self, chat_id: int, since: int = 0) -> list[str]:
        return [c.params["text"] for c in self.sent("sendMessage", chat_id, since)]

    def mark(self) -> int:
        with self._lock:
            return len(self.calls)

    def wait_for(self, predicate: Callable[[], Any], timeout: float = 20.0, what: str = "a condition") -> Any:
        """Block (in a test thread) until `predicate()` is truthy; its value."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                self._changed.release()
                try:
                    value = predicate()
                finally:
                    self._changed.acquire()
                if value:
                    return value
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"waited {timeout:g}s for {what}; last calls: {self.calls[-5:]}")
                self._changed.wait(min(left, 0.2))


class OfflineRequest(BaseRequest):
    """python-telegram-bot's request object, answered by a BotApi in this process (no network)."""

    def __init__(self, api: BotApi) -> None:
        self.api = api

    async def initialize(self) -> None:
        pass

    async def shutdown(self) -> None:
        pass

    @property
    def read_timeout(self) -> float:
        return 1.0

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
        if "/file/bot" in url:
            return self.api.download(url.split("/file/bot", 1)[1].split("/", 1)[1])
        name = url.rsplit("/", 1)[-1]
        params = parse_params(request_data.json_parameters if request_data else {})
        files = {}
        if request_data is not None and request_data.contains_files:
            files = {key: value[1] for key, value in request_data.multipart_data.items()}
        status, body = self.api.handle(name, params, files)
        return status, json.dumps(body).encode()


# -- updates, as Telegram sends them ------------------------------------------------------------------

_update_ids = itertools.count(1)
_message_ids = itertools.count(100_000)


def user(user_id: int, first_name: str = "") -> JSON:
    return {"id": user_id, "is_bot": False, "first_name": first_name or f"user{user_id}"}


def message_update(api: BotApi, chat_id: int, user_id: int, first_name: str = "", **content: Any) -> JSON:
    """An update with a new message in `chat_id` from `user_id` (`text=…`, `voice=…`, …)."""
    message = {
        "message_id": next(_message_ids),
        "date": int(time.time()),
        "chat": api.chat(chat_id),
        "from": user(user_id, first_name),
        **content,
    }
    text = content.get("text") or ""
    if text.startswith("/"):
        command = text.split()[0]
        message["entities"] = [{"type": "bot_command", "offset": 0, "length": len(command)}]
    return {"update_id": next(_update_ids), "message": message}


def reply_update(api: BotApi, chat_id: int, user_id: int, text: str, to: JSON, first_name: str = "") -> JSON:
    """A message that replies to the message `to` (as the API returned it)."""
    return message_update(api, chat_id, user_id, first_name, text=text, reply_to_message=to)


def callback_update(api: BotApi, chat_id: int, user_id: int, message: JSON, data: str, first_name: str = "") -> JSON:
    """A press of an inline button under `message`."""
    return {
        "update_id": next(_update_ids),
        "callback_query": {
            "id": f"cb-{next(_update_ids)}",
            "from": user(user_id, first_name),
            "chat_instance": str(chat_id),
            "message": message,
            "data": data,
        },
    }
