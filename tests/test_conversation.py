"""Integration: the real Rasa server and action server, a Chinese conversation over REST,
and the answer contract read back through the HTTP API."""

from __future__ import annotations

import re

import pytest

from knowledge.base import load

pytestmark = pytest.mark.integration


def test_greeting_is_answered_in_chinese(services) -> None:
    texts = services.texts("conv-greet", "你好")
    assert texts and "寻乌助残助手" in texts[0]
    tracker = services.tracker("conv-greet")
    assert tracker["latest_message"]["intent"]["name"] == "greet"
    assert tracker["slots"]["answer_sources"] == []


def test_policy_answer_cites_its_source_and_sets_answer_sources(services) -> None:
    texts = services.texts("conv-nursing", "我妈瘫在床上好几年了，重度残疾人护理补贴怎么申请")
    tracker = services.tracker("conv-nursing")
    assert tracker["latest_message"]["intent"]["name"] == "ask_policy"
    sources = tracker["slots"]["answer_sources"]
    assert sources and sources[0] in {"m1.5", "m7.2"}
    reply = "\n".join(texts)
    assert "来源：" in reply
    # The answer text is the knowledge entry's own text, not something made up.
    entry = load().by_key[tracker["slots"]["topic"]]
    assert entry.answer in reply and entry.id == sources[0]


def test_follow_up_stays_on_the_topic(services) -> None:
    services.texts("conv-follow", "护理补贴是什么")
    first = services.tracker("conv-follow")["slots"]
    texts = services.texts("conv-follow", "那要带什么材料")
    tracker = services.tracker("conv-follow")
    assert tracker["latest_message"]["intent"]["name"] == "ask_policy"
    assert tracker["latest_message"]["knowledge"]["followup"] is True  # read with the topic
    kb = load()
    family = {e.key for e in kb.topic_family(kb.by_key[first["topic"]])}
    assert tracker["slots"]["topic"] in family
    assert "残疾人证" in "\n".join(texts)


def test_look_alike_that_is_not_about_disability_is_out_of_scope(services) -> None:
    texts = services.texts("conv-oos", "我奶奶九十岁了，高龄津贴怎么领")
    tracker = services.tracker("conv-oos")
    assert tracker["latest_message"]["intent"]["name"] == "out_of_scope"
    assert tracker["slots"]["answer_sources"] == []
    assert "不在我能回答的范围" in texts[0]


def test_answer_sources_are_emptied_by_the_next_non_policy_turn(services) -> None:
    services.texts("conv-reset", "残疾人证怎么办")
    assert services.tracker("conv-reset")["slots"]["answer_sources"]
    services.texts("conv-reset", "谢谢")
    assert services.tracker("conv-reset")["slots"]["answer_sources"] == []


def test_help_request_by_digits_stores_a_ticket_before_saying_its_number(services) -> None:
    from tickets.store import store_for

    sender = "conv-help"
    services.texts(sender, "转人工")
    services.texts(sender, "王阿姨")
    services.texts(sender, "138 1234 5678")
    services.texts(sender, "5")
    services.texts(sender, "3")
    services.texts(sender, "我爸的轮椅坏了，想问能不能换一个")
    texts = services.texts(sender, "0")
    number = re.search(r"XW-[2-9A-Z]{5}", "\n".join(texts)).group(0)
    ticket = store_for(f"sqlite:///{services.data_dir / 'tickets.db'}").get(number)
    assert (ticket.contact_name, ticket.phone, ticket.township, ticket.category) == (
        "王阿姨",
        "13812345678",
        "吉潭镇",
        "康复和辅助器具",
    )
    assert ticket.sender_id == sender and ticket.state == "new"
    status = "\n".join(services.texts(sender, "查进度"))
    assert number in status


def test_cancel_inside_the_form_stores_nothing(services) -> None:
    from tickets.store import store_for

    sender = "conv-cancel"
    services.texts(sender, "我要求助")
    services.texts(sender, "李先生")
    texts = services.texts(sender, "算了")
    assert any("取消" in t for t in texts)
    assert store_for(f"sqlite:///{services.data_dir / 'tickets.db'}").for_sender(sender) == []
    assert services.tracker(sender)["active_loop"] in ({}, None) or not services.tracker(sender)["active_loop"].get(
        "name"
    )
