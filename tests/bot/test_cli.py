"""`python -m tickets.cli`: staff working locally; same texts and audit trail as in Telegram."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from common.texts import say
from tickets import cli
from tickets.store import TicketStore, store_for


@pytest.fixture
def store(tmp_path: Path) -> TicketStore:
    return store_for(f"sqlite:///{tmp_path / 'tickets.db'}")


def run(store: TicketStore, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    status = cli.main(list(argv), store=store)
    return status, capsys.readouterr().out.strip()


def test_open_show_claim_reply_close_reopen(store: TicketStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(store, capsys, "open") == (0, say("utter_staff_none_open"))
    ticket = store.create("tg:5:5", "王阿姨", "13812345678", "长宁镇", "补贴", "补贴没到账")
    number = ticket.number

    status, out = run(store, capsys, "open")
    assert status == 0 and number in out and "（1条）" in out
    assert run(store, capsys, "--name", "李干事", "claim", number.lower()) == (
        0,
        say("utter_staff_claimed_ok", ticket=number),
    )
    assert run(store, capsys, "claim", number) == (0, say("utter_staff_claimed_ok", ticket=number))  # already mine
    assert run(store, capsys, "reply", number, "明天", "打电话") == (0, say("utter_staff_reply_sent", ticket=number))
    assert store.messages(number)[-1]["text"] == "明天 打电话"
    assert run(store, capsys, "close", number) == (0, say("utter_staff_closed_ok", ticket=number))
    assert run(store, capsys, "close", number) == (1, say("utter_staff_already_closed", ticket=number))
    assert run(store, capsys, "reply", number, "还有") == (1, say("utter_staff_reply_closed", ticket=number))
    assert run(store, capsys, "reopen", number) == (0, say("utter_staff_reopened", ticket=number))

    status, out = run(store, capsys, "show", number)
    assert status == 0 and out.startswith(f"求助 {number}（") and "明天 打电话" in out and "重新打开" in out
    actors = {e["actor"] for e in store.history(number) if e["action"] in ("claimed", "replied", "closed", "reopened")}
    assert actors == {"cli"}


def test_bad_numbers(store: TicketStore, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(store, capsys, "show", "hello") == (2, say("utter_staff_bad_number", text="hello"))
    assert run(store, capsys, "claim", "XW-ZZZZZ") == (1, say("utter_staff_ticket_unknown", ticket="XW-ZZZZZ"))
    assert run(store, capsys, "reply", "XW-ZZZZZ", "你好") == (1, say("utter_staff_ticket_unknown", ticket="XW-ZZZZZ"))
    assert store.counts() == {"new": 0, "claimed": 0, "answered": 0, "closed": 0}


def test_as_a_command(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'tickets.db'}"
    number = store_for(url).create("local-1", "李先生", "", "", "其他", "想问问").number
    env = {**os.environ, "DATABASE_URL": url, "XUNWU_DATA_DIR": str(tmp_path)}
    proc = subprocess.run(
        [sys.executable, "-m", "tickets.cli", "open"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0 and number in proc.stdout


def test_show_lists_the_conversation_and_ask_waits_for_the_resident(
    store: TicketStore, capsys: pytest.CaptureFixture[str]
) -> None:
    ticket = store.create("local-ahua", "阿华", "13812345678", "长宁镇", "补贴", "补贴没到账")
    number = ticket.number
    status, out = run(store, capsys, "show", number)
    assert status == 0 and say("utter_staff_conversation_empty", ticket=number) in out

    assert run(store, capsys, "ask", number, "银行卡换过吗") == (
        0,
        say("utter_staff_asked_sent", ticket=number),
    )
    assert store.get(number).waiting_on == "resident"
    store.add_resident_message(number, "local-ahua", "换过了，是农商银行的", via="note")
    store.add_resident_message(number, "local-ahua", "", kind="voice", file_id="v-1", via="reply")
    store.add_resident_message(number, "local-ahua", "存折", kind="photo", file_id="p-1", via="offer")
    (line,) = [x for x in run(store, capsys, "open")[1].splitlines() if number in x]
    assert line.endswith("｜" + say("utter_word_waiting_staff"))
    assert run(store, capsys, "reply", number, "收到，明天去银行问?") == (
        0,
        say("utter_staff_asked_sent", ticket=number),
    )
    assert run(store, capsys, "reply", number, "好的") == (0, say("utter_staff_reply_sent", ticket=number))

    status, out = run(store, capsys, "show", number)
    conversation = out.split(f"求助 {number} 的对话：\n", 1)[1].split("\n\n", 1)[0].splitlines()
    assert [line.split(" ", 2)[2] for line in conversation] == [
        "工作人员cli说：银行卡换过吗",
        "居民说：换过了，是农商银行的",
        "居民发来一段语音",
        "居民发来一张照片：存折",
        "工作人员cli说：收到，明天去银行问?",
        "工作人员cli说：好的",
    ]
    assert f"求助 {number} 的记录：" in out and "问了居民一个问题" in out and "补充了内容" in out
    (line,) = [x for x in run(store, capsys, "open")[1].splitlines() if number in x]
    assert "｜" not in line  # answered, nothing asked: nobody is waited on
