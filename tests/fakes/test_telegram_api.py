"""Tests of FakeTelegramAPI, driven by the real python-telegram-bot (PTB) client."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from telegram import (
    Bot,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import (
    Application,
    ApplicationBuilder,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from .telegram_api import FakeTelegramAPI

TOKEN = "123:ABC"
USER = 42
STAFF_GROUP = -1001234567890
VOICE = b"OggS\x00\x02" + bytes(range(256)) * 4


@pytest.fixture
def fake() -> Iterator[FakeTelegramAPI]:
    """A started fake server, stopped after the test."""
    with FakeTelegramAPI() as server:
        yield server
    leftover = [t.name for t in threading.enumerate() if t.name == "FakeTelegramAPI"]
    assert not leftover, "the fake's server thread outlived stop()"


def make_bot(fake: FakeTelegramAPI) -> Bot:
    """A PTB Bot talking to the fake."""
    return Bot(TOKEN, base_url=fake.base_url, base_file_url=fake.base_file_url)


def build_app(fake: FakeTelegramAPI) -> Application[Any, Any, Any, Any, Any, Any]:
    """A PTB Application talking to the fake, with handlers like a small assistant."""

    async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.effective_message is not None
        await update.effective_message.reply_text("欢迎！")

    async def text(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        assert message is not None and message.text is not None
        keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("👍", callback_data="up:" + message.text[:20])]])
        await message.reply_text(f"收到：{message.text}", reply_markup=keyboard)

    async def button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        assert query is not None
        await query.answer("谢谢")
        await query.edit_message_text(f"已评价 {query.data}")

    app = ApplicationBuilder().token(TOKEN).base_url(fake.base_url).base_file_url(fake.base_file_url).build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, text))
    app.add_handler(CallbackQueryHandler(button))
    return app


def free_port() -> int:
    """A TCP port that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def raw_call(fake: FakeTelegramAPI, method: str, body: bytes, content_type: str) -> tuple[int, dict[str, Any]]:
    """POST a raw body to the fake and return (status, JSON answer)."""
    request = urllib.request.Request(
        f"{fake.base_url}{TOKEN}/{method}",
        data=body,
        headers={"Content-Type": content_type},
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


# ---------------------------------------------------------------------- plain Bot calls


@pytest.mark.asyncio
async def test_bot_methods_round_trip(fake: FakeTelegramAPI) -> None:
    async with make_bot(fake) as bot:
        me = await bot.get_me()
        assert (me.id, me.is_bot, me.username) == (123, True, fake.bot_username)

        keyboard = ReplyKeyboardMarkup([["天气", "新闻"]], resize_keyboard=True)
        first = await bot.send_message(USER, "你好", reply_markup=keyboard)
        assert (first.message_id, first.chat.id, first.chat.type) == (
            1,
            USER,
            "private",
        )
        assert first.from_user is not None and first.from_user.id == 123
        assert first.text == "你好"
        call = fake.calls("sendMessage", chat_id=USER)[-1]
        assert call.params["reply_markup"]["keyboard"][0][0] == {"text": "天气"}

        voice = await bot.send_voice(USER, VOICE, duration=3, caption="语音")
        assert voice.message_id == 2
        assert voice.voice is not None
        assert fake.sent_messages(USER)[-1]["voice"]["duration"] == 3
        voice_call = fake.calls("sendVoice")[-1]
        assert voice_call.files["voice"] == VOICE
        assert fake.file_content(voice.voice.file_id) == VOICE

        other = await bot.send_message(STAFF_GROUP, "<b>新工单</b> #1", parse_mode="HTML")
        assert other.message_id == 1 and other.chat.type == "supergroup"
        assert other.text == "新工单 #1" and other.entities[0].type == "bold"

        inline = InlineKeyboardMarkup([[InlineKeyboardButton("好", callback_data="ok")]])
        edited = await bot.edit_message_text("你好！", chat_id=USER, message_id=first.message_id, reply_markup=inline)
        assert isinstance(edited, Message) and edited.text == "你好！"
        assert edited.edit_date is not None
        with pytest.raises(BadRequest, match="(?i)message is not modified"):
            await bot.edit_message_text("你好！", USER, first.message_id, reply_markup=inline)

        pushed = fake.push_callback(USER, USER, first.message_id, "ok")
        assert pushed.message is not None and pushed.message["text"] == "你好！"
        assert await bot.answer_callback_query(pushed.callback_query_id or "", text="好的")
        assert fake.callback_answer(pushed.callback_query_id or "") == {"text": "好的"}
        with pytest.raises(BadRequest, match="(?i)query ID is invalid"):
            await bot.answer_callback_query(pushed.callback_query_id or "")

        audio = await bot.send_audio(USER, b"ID3...", title="播报", filename="a.mp3")
        assert audio.audio is not None and audio.audio.title == "播报"
        plain = await bot.edit_message_reply_markup(USER, audio.message_id, reply_markup=inline)
        assert isinstance(plain, Message) and plain.reply_markup == inline
        assert await bot.send_chat_action(USER, "typing")
        assert await bot.delete_message(STAFF_GROUP, other.message_id)
        with pytest.raises(BadRequest, match="(?i)message to delete not found"):
            await bot.delete_message(STAFF_GROUP, other.message_id)

    sent = fake.sent_messages(USER)
    assert [m["message_id"] for m in sent] == [1, 2, 3]
    assert sent[1]["voice"]["file_id"] == voice.voice.file_id
    current = fake.message(USER, 1)
    assert current is not None and current["text"] == "你好！"


@pytest.mark.asyncio
async def test_validation_errors_match_telegram(fake: FakeTelegramAPI) -> None:
    async with make_bot(fake) as bot:
        with pytest.raises(BadRequest, match="(?i)message text is empty"):
            await bot.send_message(USER, "   ")
        with pytest.raises(BadRequest, match="(?i)can't parse entities"):
            await bot.send_message(USER, "1 < 2 <b>x", parse_mode="HTML")
        with pytest.raises(BadRequest, match="(?i)reserved"):
            await bot.send_message(USER, "价格 3.5 元", parse_mode="MarkdownV2")
        assert (await bot.send_message(USER, "价格 3\\.5 元", parse_mode="MarkdownV2")).text
        with pytest.raises(BadRequest, match="(?i)message is too long"):
            await bot.send_message(USER, "长" * 4097)
        with pytest.raises(BadRequest, match="(?i)BUTTON_DATA_INVALID"):
            markup = InlineKeyboardMarkup([[InlineKeyboardButton("x", callback_data="d" * 65)]])
            await bot.send_message(USER, "hi", reply_markup=markup)
        with pytest.raises(BadRequest, match="(?i)BOT_COMMAND_INVALID"):
            await bot.set_my_commands([("Start", "开始")])
        assert await bot.set_my_commands([("start", "开始"), ("help", "帮助")])
        assert [c.command for c in await bot.get_my_commands()] == ["start", "help"]
        with pytest.raises(BadRequest, match="(?i)invalid file_id"):
            await bot.get_file("nope")
        fake.set_blocked(USER)
        with pytest.raises(Forbidden, match="(?i)blocked by the user"):
            await bot.send_message(USER, "hi")


def test_raw_requests_json_form_and_errors(fake: FakeTelegramAPI) -> None:
    status, body = raw_call(fake, "SENDMESSAGE", b'{"chat_id": 7, "text": "hi"}', "application/json")
    assert status == 200 and body["ok"] and body["result"]["chat"]["id"] == 7
    status, body = raw_call(
        fake,
        "sendmessage",
        b"chat_id=7&text=%E4%BD%A0%E5%A5%BD",
        "application/x-www-form-urlencoded",
    )
    assert status == 200 and body["result"]["text"] == "你好" and body["result"]["message_id"] == 2
    status, body = raw_call(fake, "sendMessage", b'{"text": "hi"}', "application/json")
    assert (status, body["ok"], body["error_code"]) == (400, False, 400)
    assert "chat_id" in body["description"]
    status, body = raw_call(fake, "sendMessage", b'{"chat_id": 7}', "application/json")
    assert status == 400 and "text is empty" in body["description"]
    status, body = raw_call(fake, "noSuchMethod", b"{}", "application/json")
    assert status == 404 and not body["ok"] and "not found" in body["description"]
    assert [c.method for c in fake.calls()] == ["sendMessage"] * 4 + ["noSuchMethod"]
    assert [c.ok for c in fake.calls("sendmessage", chat_id=7)] == [True, True, False]


def test_strict_chats_and_registered_groups() -> None:
    with FakeTelegramAPI(strict_chats=True) as fake:
        body = b'{"chat_id": -1001, "text": "hi"}'
        status, answer = raw_call(fake, "sendMessage", body, "application/json")
        assert status == 400 and "chat not found" in answer["description"]
        fake.register_chat(-1001, "supergroup", title="客服组")
        status, answer = raw_call(fake, "sendMessage", body, "application/json")
        assert status == 200 and answer["result"]["chat"]["title"] == "客服组"
        status, answer = raw_call(fake, "logOut", b"", "application/json")
        assert (status, answer["result"]) == (200, True)


def test_sync_wait_reports_calls_seen(fake: FakeTelegramAPI) -> None:
    raw_call(
        fake,
        "sendMessage",
        b'{"chat_id": 9, "text": "hello there"}',
        "application/json",
    )
    assert fake.wait_for_call("sendMessage", chat_id=9).result["text"] == "hello there"
    started = time.monotonic()
    with pytest.raises(TimeoutError) as caught:
        fake.wait_for_call("sendVoice", chat_id=9, timeout=0.3)
    assert time.monotonic() - started < 2
    assert "sendVoice" in str(caught.value) and "'hello there'" in str(caught.value)


@pytest.mark.asyncio
async def test_sync_wait_refused_inside_event_loop(fake: FakeTelegramAPI) -> None:
    with pytest.raises(RuntimeError, match="wait_for_call_async"):
        fake.wait_for_call("sendMessage", timeout=0.1)


@pytest.mark.asyncio
async def test_async_context_manager_and_long_polling() -> None:
    async with FakeTelegramAPI() as fake, make_bot(fake) as bot:
        assert await bot.get_updates(timeout=0) == ()
        loop = asyncio.get_running_loop()
        loop.call_later(0.3, lambda: fake.push_text(USER, USER, "在吗"))
        started = time.monotonic()
        updates = await bot.get_updates(timeout=5)
        assert time.monotonic() - started < 2  # answered when the update came
        assert len(updates) == 1 and updates[0].message is not None
        assert updates[0].message.text == "在吗"
        first_id = updates[0].update_id
        again = await bot.get_updates(offset=first_id, timeout=0)
        assert [u.update_id for u in again] == [first_id]  # not confirmed yet
        started = time.monotonic()
        assert await bot.get_updates(offset=first_id + 1, timeout=1) == ()
        assert 0.8 < time.monotonic() - started < 3  # waited for the timeout
        assert fake.pending_updates() == []


# ---------------------------------------------------------------------- files and media


@pytest.mark.asyncio
async def test_pushed_media_parse_in_ptb(fake: FakeTelegramAPI) -> None:
    photo = fake.push_photo(USER, USER, b"\xff\xd8jpeg", caption="看图")
    document = fake.push_document(USER, USER, "报告".encode(), file_name="r.txt")
    sticker = fake.push_sticker(STAFF_GROUP, 7, emoji="👍", chat_title="客服组")
    location = fake.push_location(USER, USER, 31.23, 121.47)
    command = fake.push_command(STAFF_GROUP, 7, "/help", "me", mention_bot=True)
    reply = fake.push_text(USER, USER, "回复", reply_to_message_id=photo.message_id)
    async with make_bot(fake) as bot:
        updates = await bot.get_updates(timeout=0)
    messages = [u.message for u in updates]
    assert [u.update_id for u in updates] == [p.update_id for p in (photo, document, sticker, location, command, reply)]
    assert all(m is not None for m in messages)
    m_photo, m_doc, m_sticker, m_location, m_command, m_reply = messages
    assert m_photo and m_photo.photo[-1].file_id == photo.file_id
    assert m_photo.caption == "看图"
    assert m_doc and m_doc.document and m_doc.document.file_name == "r.txt"
    assert fake.file_content(document.file_id or "") == "报告".encode()
    assert m_sticker and m_sticker.sticker and m_sticker.sticker.emoji == "👍"
    assert m_sticker.chat.type == "supergroup" and m_sticker.chat.title == "客服组"
    assert m_location and m_location.location and m_location.location.latitude == 31.23
    assert m_command and m_command.text == f"/help@{fake.bot_username} me"
    assert m_command.entities[0].type == "bot_command"
    assert m_reply and m_reply.reply_to_message
    assert m_reply.reply_to_message.message_id == photo.message_id


@pytest.mark.asyncio
async def test_bot_uploads_copies_and_forwards(fake: FakeTelegramAPI) -> None:
    async with make_bot(fake) as bot:
        doc = await bot.send_document(USER, b"a,b\n1,2\n", filename="t.csv", caption="表")
        assert doc.document is not None and doc.document.file_name == "t.csv"
        assert fake.calls("sendDocument")[0].files["document"] == b"a,b\n1,2\n"
        photo = await bot.send_photo(STAFF_GROUP, b"\x89PNG....")
        assert photo.photo and photo.photo[-1].file_id
        again = await bot.send_photo(USER, photo.photo[-1].file_id)  # by file_id
        assert again.photo[-1].file_id == photo.photo[-1].file_id
        pushed = fake.push_text(USER, USER, "请转给客服")
        assert pushed.message_id is not None
        copied = await bot.copy_message(STAFF_GROUP, USER, pushed.message_id)
        forwarded = await bot.forward_message(STAFF_GROUP, USER, pushed.message_id)
        assert forwarded.forward_origin is not None and forwarded.text == "请转给客服"
    staff = fake.sent_messages(STAFF_GROUP)
    assert [m["message_id"] for m in staff] == [1, copied.message_id, 3]
    assert staff[1]["text"] == "请转给客服" and staff[1]["from"]["is_bot"]


@pytest.mark.asyncio
async def test_pushed_voice_downloads_same_bytes(fake: FakeTelegramAPI) -> None:
    pushed = fake.push_voice(USER, USER, VOICE, duration=2)
    assert pushed.file_id is not None
    async with make_bot(fake) as bot:
        updates = await bot.get_updates(timeout=0)
        message = updates[0].message
        assert message is not None and message.voice is not None
        assert message.voice.file_id == pushed.file_id
        tg_file = await bot.get_file(message.voice.file_id)
        assert tg_file.file_path is not None and tg_file.file_path.startswith(fake.base_file_url)
        assert bytes(await tg_file.download_as_bytearray()) == VOICE
    assert fake.calls("downloadFile")[0].ok


# ---------------------------------------------------------------------- Application


async def start_polling(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Start polling the way PTB documents for running beside other asyncio code."""
    assert app.updater is not None
    await app.updater.start_polling(poll_interval=0, timeout=1)
    await app.start()


async def stop_polling(app: Application[Any, Any, Any, Any, Any, Any]) -> None:
    """Stop what `start_polling` started (the app even if the updater's stop raises)."""
    assert app.updater is not None
    try:
        if app.updater.running:
            await app.updater.stop()
    finally:
        if app.running:
            await app.stop()


@pytest.mark.asyncio
async def test_application_polling_text_command_and_callback(
    fake: FakeTelegramAPI,
) -> None:
    app = build_app(fake)
    async with app:
        await start_polling(app)
        try:
            fake.push_command(USER, USER, "/start", first_name="小明", language_code="zh-hans")
            call = await fake.wait_for_call_async("sendMessage", chat_id=USER)
            assert call.params["text"] == "欢迎！"

            pushed = fake.push_text(STAFF_GROUP, 7, "工单 #3 已处理", username="agent")
            reply = await fake.wait_for_call_async("sendMessage", chat_id=STAFF_GROUP)
            assert reply.result["text"] == "收到：工单 #3 已处理"
            assert reply.result["reply_to_message"]["message_id"] == pushed.message_id
            assert reply.result["chat"]["type"] == "supergroup"

            bot_message_id = reply.result["message_id"]
            fake.push_callback(STAFF_GROUP, 7, bot_message_id, "up:1")
            edit = await fake.wait_for_call_async("editMessageText", chat_id=STAFF_GROUP)
            assert edit.ok and edit.params["text"] == "已评价 up:1"
            answer = fake.calls("answerCallbackQuery")[0]
            assert answer.ok and answer.params["text"] == "谢谢"
            edited = fake.message(STAFF_GROUP, bot_message_id)
            assert edited is not None and edited["text"] == "已评价 up:1"
        finally:
            await stop_polling(app)
    assert fake.pending_updates() == []


@pytest.mark.asyncio
async def test_polling_recovers_after_outage(fake: FakeTelegramAPI) -> None:
    app = build_app(fake)
    async with app:
        fake.push_text(USER, USER, "还在吗")
        # Only getUpdates fails: PTB's bootstrap (deleteWebhook) is not retried by
        # default. Starting the outage before polling makes the first poll fail.
        fake.fail_for(1.0, methods=["getUpdates"])
        outage_started = time.time()
        await start_polling(app)
        try:
            reply = await fake.wait_for_call_async("sendMessage", chat_id=USER, timeout=8)
            assert reply.ok and reply.params["text"] == "收到：还在吗"
            assert reply.time >= outage_started + 0.95  # only after the outage ended
            polls = fake.calls("getUpdates")
            failed = [c for c in polls if not c.ok]
            assert failed and all(c.status == 500 for c in failed)
            assert polls[0] is failed[0]
        finally:
            await stop_polling(app)


# PTB 22's RetryAfter warns about its own `retry_after` type change when it is created.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
@pytest.mark.asyncio
async def test_bot_sees_injected_failures(fake: FakeTelegramAPI) -> None:
    async with make_bot(fake) as bot:
        fake.fail_next(1, methods=["sendMessage"])
        with pytest.raises(NetworkError, match="(?i)Internal Server Error"):
            await bot.send_message(USER, "a")
        assert (await bot.send_message(USER, "b")).text == "b"

        fake.fail_next(1, 429, retry_after=3)
        with pytest.raises(RetryAfter) as caught:
            await bot.send_message(USER, "c")
        assert "retry in 3" in str(caught.value).lower()

        fake.set_down(True)
        with pytest.raises(NetworkError, match="(?i)Bad Gateway"):
            await bot.get_me()
        fake.push_text(USER, USER, "test controls still work while down")
        fake.set_down(False)

        fake.delay_next(1, 1.0, methods=["sendMessage"])
        with pytest.raises(TimedOut):
            await bot.send_message(USER, "slow", read_timeout=0.3)
        late = await fake.wait_for_call_async("sendMessage", chat_id=USER, ok=True, count=2)
        assert late.params["text"] == "slow"  # applied after the delay, like Telegram
        assert [m["text"] for m in fake.sent_messages(USER)] == ["b", "slow"]


def test_sync_test_drives_a_bot_running_in_its_own_thread(
    fake: FakeTelegramAPI,
) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []

    async def run_bot() -> None:
        app = build_app(fake)
        async with app:
            await start_polling(app)
            try:
                while not stop.is_set():
                    await asyncio.sleep(0.02)
            finally:
                await stop_polling(app)

    def target() -> None:
        try:
            asyncio.run(run_bot())
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)

    thread = threading.Thread(target=target, name="bot-under-test")
    thread.start()
    try:
        fake.push_text(USER, USER, "同步测试")
        call = fake.wait_for_call("sendMessage", chat_id=USER)
        assert call.params["text"] == "收到：同步测试"
    finally:
        stop.set()
        thread.join(10)
    assert not thread.is_alive() and not errors


# ---------------------------------------------------------------------- webhooks


@pytest.mark.asyncio
async def test_webhook_delivery_and_secret_check(fake: FakeTelegramAPI) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    app = build_app(fake)
    async with app:
        assert app.updater is not None
        await app.updater.start_webhook(
            listen="127.0.0.1",
            port=port,
            url_path="hook",
            secret_token="s3cret",
            webhook_url=url,
        )
        await app.start()
        try:
            assert (fake.webhook_url, fake.webhook_secret) == (url, "s3cret")
            fake.push_text(USER, USER, "走 webhook")
            reply = await fake.wait_for_call_async("sendMessage", chat_id=USER)
            assert reply.result["text"] == "收到：走 webhook"
            await fake.wait_for_async(lambda: not fake.pending_updates())
            assert any(d.ok for d in fake.webhook_deliveries())

            update = {
                "update_id": 999_999,
                "message": {
                    "message_id": 500,
                    "date": int(time.time()),
                    "chat": {"id": USER, "type": "private", "first_name": "x"},
                    "from": {"id": USER, "is_bot": False, "first_name": "x"},
                    "text": "伪造",
                },
            }
            wrong = await fake.post_raw_update_async(update, secret="wrong")
            missing = await fake.post_raw_update_async(update)
            assert (wrong.status, missing.status) == (403, 403)
            right = await fake.post_raw_update_async(update, secret="s3cret")
            assert right.status == 200
            processed = await fake.wait_for_call_async("sendMessage", chat_id=USER, count=2)
            assert processed.params["text"] == "收到：伪造"

            with pytest.raises(Conflict, match="(?i)webhook is active"):
                await app.bot.get_updates(timeout=0)
        finally:
            await app.updater.stop()
            await app.stop()


@pytest.mark.asyncio
async def test_undeliverable_webhook_updates_stay_pending(
    fake: FakeTelegramAPI,
) -> None:
    port = free_port()
    async with make_bot(fake) as bot:
        assert await bot.set_webhook(f"http://127.0.0.1:{port}/hook", secret_token="abc")
        fake.push_text(USER, USER, "排队")
        await fake.wait_for_async(lambda: fake.webhook_deliveries())
        assert not fake.webhook_deliveries()[0].ok  # nothing listens yet
        info = await bot.get_webhook_info()
        assert info.pending_update_count == 1 and info.last_error_message
        assert await bot.delete_webhook()
        updates = await bot.get_updates(timeout=0)  # still pending: back to polling
        assert updates[0].message is not None and updates[0].message.text == "排队"
