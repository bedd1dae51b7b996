"""Bad input for the reliability suite: REST requests to Rasa's channels and Telegram updates.

`rest_requests(n)` yields (name, method, path, headers, body bytes) of many kinds: empty,
huge, control characters, invalid UTF-8, lone surrogates, injection strings, nested JSON,
wrong types and content types, missing or odd senders, other paths and methods.
`telegram_updates(n, ids, people)` yields raw updates (dicts or anything) of many kinds,
a third of them ordinary text messages from private chats, which must each be answered.
"""

from __future__ import annotations

import itertools
import json
import random
from collections.abc import Iterator
from typing import Any

JSON_TYPE = {"Content-Type": "application/json"}

TEXTS: dict[str, str] = {
    "empty": "",
    "spaces": "   \n\t ",
    "long-1k": "补贴" * 500,
    "long-20k": "我想问一下补贴的事情。" * 2000,
    "control": "\x00\x01\x02\x1b[31m\x7f\x9f",
    "nul-inside": "护理\x00补贴",
    "emoji": "😀🙏🏽👨‍👩‍👧" * 20,
    "rtl": "\u202e补贴\u202c",
    "zero-width": "补\u200b贴\u200d怎么\ufeff申请",
    "sql": "'; DROP TABLE tickets; --",
    "html": "<script>alert(1)</script><img src=x onerror=alert(1)>",
    "template": "{ticket}{0}%s%n${jndi:ldap://x}{{7*7}}",
    "intent-injection": '/request_help{"phone": "13800000000"}',
    "slash": "/restart",
    "markdown": "*粗体* _斜体_ [链接](http://example.invalid)",
    "phone-spaces": "我的电话是 138 1234 5678",
    "path": "../../../../etc/passwd",
    "digits": "１２３４５６７８９０" * 30,
    "traditional": "請問殘疾人證怎麼辦理",
    "newlines": "\n" * 500,
}

SENDERS: dict[str, Any] = {
    "ok": "adv-{i}",
    "tg-forged": "tg:{i}:{i}",
    "empty": "",
    "spaces": "   ",
    "long": "s" * 300,
    "control": "x\x00y{i}",
    "surrogate": "x\ud800{i}",
    "number": 12345,
    "list": ["a"],
    "object": {"id": 1},
    "null": None,
    "unicode": "居民-{i}",
}


def _body(value: Any) -> bytes:
    """JSON with lone surrogates kept (as \\ud800 escapes): what a client may really send."""
    return json.dumps(value, ensure_ascii=True).encode()


def _fill(value: Any, i: int) -> Any:
    return value.replace("{i}", str(i)) if isinstance(value, str) else value


def rest_requests(n: int, seed: int = 7) -> Iterator[tuple[str, str, str, dict[str, str], bytes]]:
    """`n` requests, cycling through every kind, each with its own sender where it has one."""
    rng = random.Random(seed)
    path = "/webhooks/rest/webhook"
    bridge = "/webhooks/bridge/webhook"
    kinds: list[tuple[str, str, str, dict[str, str], Any]] = []
    for text_name, text in TEXTS.items():
        kinds.append((f"text:{text_name}", "POST", path, JSON_TYPE, {"sender": "adv-{i}", "message": text}))
    for sender_name, sender in SENDERS.items():
        kinds.append((f"sender:{sender_name}", "POST", path, JSON_TYPE, {"sender": sender, "message": "你好"}))
    kinds += [
        ("no-sender", "POST", path, JSON_TYPE, {"message": "你好"}),
        ("no-message", "POST", path, JSON_TYPE, {"sender": "adv-{i}"}),
        ("message-number", "POST", path, JSON_TYPE, {"sender": "adv-{i}", "message": 42}),
        ("message-object", "POST", path, JSON_TYPE, {"sender": "adv-{i}", "message": {"text": "你好"}}),
        ("message-list", "POST", path, JSON_TYPE, {"sender": "adv-{i}", "message": ["你好"]}),
        ("nested-deep", "POST", path, JSON_TYPE, {"sender": "adv-{i}", "message": "你好", "x": _nested(200)}),
        (
            "metadata-huge",
            "POST",
            path,
            JSON_TYPE,
            {"sender": "adv-{i}", "message": "你好", "metadata": {"k": "v" * 9000}},
        ),
        ("input-channel", "POST", path, JSON_TYPE, {"sender": "adv-{i}", "message": "你好", "input_channel": "bridge"}),
        ("stream", "POST", path + "?stream=true", JSON_TYPE, {"sender": "adv-{i}", "message": "你好"}),
        ("array-body", "POST", path, JSON_TYPE, ["sender", "message"]),
        ("string-body", "POST", path, JSON_TYPE, "你好"),
        ("null-body", "POST", path, JSON_TYPE, None),
        ("bridge-no-token", "POST", bridge, JSON_TYPE, {"sender": "tg:{i}:{i}", "message": "查进度"}),
        (
            "bridge-wrong-token",
            "POST",
            bridge,
            {**JSON_TYPE, "X-Xunwu-Bridge-Token": "guess"},
            {"sender": "x", "message": "你好"},
        ),
        ("get-webhook", "GET", path, {}, None),
        ("put-webhook", "PUT", path, JSON_TYPE, {"sender": "adv-{i}", "message": "你好"}),
        ("tracker-no-token", "GET", "/conversations/tg:1:1/tracker", {}, None),
        ("events-no-token", "POST", "/conversations/adv-{i}/tracker/events", JSON_TYPE, {"event": "restart"}),
        ("model-delete", "DELETE", "/model", {}, None),
    ]
    raw = [
        ("invalid-utf8", b'{"sender": "adv-{i}", "message": "\xff\xfe\xfa"}'),
        ("truncated-json", b'{"sender": "adv-{i}", "message": "'),
        ("not-json", b"sender=adv&message=hi"),
        ("bom-json", b'\xef\xbb\xbf{"sender": "adv-{i}", "message": "hi"}'),
        ("huge-body", b'{"sender": "adv-{i}", "message": "' + b"a" * 2_000_000 + b'"}'),
    ]
    content_types = [
        ("text/plain", {"Content-Type": "text/plain"}),
        ("form", {"Content-Type": "application/x-www-form-urlencoded"}),
        ("no-type", {}),
        ("xml", {"Content-Type": "application/xml"}),
    ]
    order = list(range(len(kinds) + len(raw) + len(content_types)))
    for i in range(n):
        pick = order[i % len(order)] if i < len(order) else rng.choice(order)
        if pick < len(kinds):
            name, method, where, headers, body = kinds[pick]
            filled = json.loads(json.dumps(body).replace("{i}", str(i))) if body is not None else None
            yield (
                name,
                method,
                where.replace("{i}", str(i)),
                headers,
                b"" if body is None and method != "POST" else _body(filled),
            )
        elif pick < len(kinds) + len(raw):
            name, data = raw[pick - len(kinds)]
            yield name, "POST", path, JSON_TYPE, data.replace(b"{i}", str(i).encode())
        else:
            name, headers = content_types[pick - len(kinds) - len(raw)]
            yield f"type:{name}", "POST", path, headers, _body({"sender": f"adv-{i}", "message": "你好"})


def _nested(depth: int) -> Any:
    value: Any = "底"
    for _ in range(depth):
        value = {"a": [value]}
    return value


def telegram_updates(n: int, people: list[int], seed: int = 11) -> Iterator[tuple[str, Any, int | None]]:
    """`n` raw updates: (kind, update, chat that must be answered or None). Update ids from 10**8."""
    rng = random.Random(seed)
    ids = itertools.count(10**8)
    message_ids = itertools.count(10**6)

    def message(chat: Any, user: Any, **content: Any) -> dict[str, Any]:
        return {
            "message_id": next(message_ids),
            "date": 1_700_000_000,
            "chat": chat,
            "from": user,
            **content,
        }

    def private(person: int) -> tuple[dict[str, Any], dict[str, Any]]:
        return {"id": person, "type": "private", "first_name": "居民"}, {
            "id": person,
            "is_bot": False,
            "first_name": "居民",
        }

    texts = list(TEXTS.values())
    kinds = [
        "text",
        "text-weird",
        "command-odd",
        "no-from",
        "group-text",
        "channel-post",
        "edited",
        "sticker",
        "location",
        "contact-phone",
        "callback-forged",
        "callback-no-message",
        "poison-chat-string",
        "poison-date-string",
        "poison-text-number",
        "poison-not-object",
        "poison-no-id",
        "poison-empty-message",
        "huge-entities",
        "voice-no-file",
        "unknown-field",
        "negative-private",
    ]
    for i in range(n):
        kind = kinds[i % len(kinds)] if i < len(kinds) else rng.choice(kinds)
        person = rng.choice(people)
        chat, user = private(person)
        uid = next(ids)
        answered: int | None = None
        if kind == "text":
            update: Any = {
                "update_id": uid,
                "message": message(chat, user, text=rng.choice(["你好", "护理补贴怎么申请", "谢谢"])),
            }
            answered = person
        elif kind == "text-weird":
            text = rng.choice(texts) or "?"
            update = {"update_id": uid, "message": message(chat, user, text=text)}
            answered = person
        elif kind == "command-odd":
            update = {
                "update_id": uid,
                "message": message(
                    chat, user, text="/start@other_bot x", entities=[{"type": "bot_command", "offset": 0, "length": 16}]
                ),
            }
        elif kind == "no-from":
            update = {"update_id": uid, "message": message(chat, None, text="你好")}
        elif kind == "group-text":
            update = {
                "update_id": uid,
                "message": message({"id": -100 - person, "type": "group", "title": "g"}, user, text="你好"),
            }
        elif kind == "channel-post":
            update = {
                "update_id": uid,
                "channel_post": message({"id": -1009, "type": "channel", "title": "c"}, None, text="x"),
            }
        elif kind == "edited":
            update = {"update_id": uid, "edited_message": message(chat, user, text="改了", edit_date=1_700_000_001)}
        elif kind == "sticker":
            sticker = {
                "file_id": "s",
                "file_unique_id": "s",
                "width": 1,
                "height": 1,
                "is_animated": False,
                "is_video": False,
                "type": "regular",
            }
            update = {"update_id": uid, "message": message(chat, user, sticker=sticker)}
        elif kind == "location":
            update = {
                "update_id": uid,
                "message": message(chat, user, location={"latitude": 24.95, "longitude": 115.65}),
            }
        elif kind == "contact-phone":
            update = {
                "update_id": uid,
                "message": message(chat, user, contact={"phone_number": "13812345678", "first_name": "王"}),
            }
        elif kind == "callback-forged":
            update = {
                "update_id": uid,
                "callback_query": {
                    "id": f"cb{uid}",
                    "from": user,
                    "chat_instance": "1",
                    "data": "claim:XW-22222",
                    "message": message(
                        chat, {"id": 1, "is_bot": True, "first_name": "bot"}, text="求助 XW-33333（等待）"
                    ),
                },
            }
        elif kind == "callback-no-message":
            update = {
                "update_id": uid,
                "callback_query": {"id": f"cb{uid}", "from": user, "chat_instance": "1", "data": "x" * 64},
            }
        elif kind == "poison-chat-string":
            update = {"update_id": uid, "message": {"message_id": 1, "date": 1, "chat": "私聊"}}
        elif kind == "poison-date-string":
            update = {"update_id": uid, "message": {"message_id": 1, "date": "昨天", "chat": chat, "text": "x"}}
        elif kind == "poison-text-number":
            update = {"update_id": uid, "message": {"message_id": "one", "date": 1, "chat": {"id": "x"}, "text": 5}}
        elif kind == "poison-not-object":
            update = {"update_id": uid, "message": ["not", "an", "object"]}
        elif kind == "poison-no-id":
            update = {"message": message(chat, user, text="没有 update_id")}
        elif kind == "poison-empty-message":
            update = {"update_id": uid, "message": {}}
        elif kind == "huge-entities":
            ents = [{"type": "bold", "offset": k, "length": 1} for k in range(500)]
            update = {"update_id": uid, "message": message(chat, user, text="补" * 600, entities=ents)}
            answered = person
        elif kind == "voice-no-file":
            update = {"update_id": uid, "message": message(chat, user, voice={"duration": 3})}
        elif kind == "unknown-field":
            update = {
                "update_id": uid,
                "brand_new_kind": {"x": 1},
                "message": message(chat, user, text="你好", future=True),
            }
            answered = person
        else:  # "negative-private": a private chat with a negative id
            update = {"update_id": uid, "message": message({"id": -person, "type": "private"}, user, text="你好")}
        yield kind, update, answered
