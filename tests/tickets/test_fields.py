"""How the help form reads a resident's name (tickets/fields.py)."""

from __future__ import annotations

import pytest

from tickets.fields import parse_name
from tickets.replies import looks_like_question


@pytest.mark.parametrize(
    "typed",
    ["护理补贴怎么申请", "你们是哪里的？", "能不能快点", "要多久啊?", "临时救助能给几多", "有冇补贴", "这个要多久能批"],
)
def test_questions_are_not_names(typed: str) -> None:
    assert looks_like_question(typed) and parse_name(typed) is None


@pytest.mark.parametrize(
    ("typed", "name"), [("王阿姨", "王阿姨"), ("我叫王秀英", "王秀英"), ("我姓李", "李"), ("古阿婆", "古阿婆")]
)
def test_names(typed: str, name: str) -> None:
    assert parse_name(typed) == name
