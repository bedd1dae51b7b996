"""How a phone number is read from what residents type or say, and who can do without one
(tickets/phone.py)."""

from __future__ import annotations

import pytest

from tickets.phone import declines_phone, parse_phone, reachable_in_chat


@pytest.mark.parametrize(
    ("typed", "phone"),
    [
        ("13812345678", "13812345678"),
        ("138 1234 5678", "13812345678"),
        ("+86 138-1234-5678", "13812345678"),
        ("一三九一二三四五六七八", "13912345678"),  # the slip: Chinese numerals
        ("幺三八 幺二三四 五六七八", "13812345678"),  # 幺 for 1
        ("我电话13870001234", "13870001234"),  # inside a sentence (replying to staff)
        ("电话是一三八零零零零五五二一", "13800005521"),
        ("１３８１２３４５６７８", "13812345678"),  # full-width
        ("0797-2830000", "0797-2830000"),
        ("零七九七 二八三零零零零", "0797-2830000"),
        ("13812345678 3号楼", "13812345678"),
        ("12345", None),
        ("我电话是一二三", None),
        ("138123456789", None),
        ("没有", None),
    ],
)
def test_parse_phone(typed: str, phone: str | None) -> None:
    assert parse_phone(typed) == phone


def test_channels_and_declining_a_phone() -> None:
    assert reachable_in_chat("tg:5:5") and not reachable_in_chat("local-1") and not reachable_in_chat("rest-x")
    assert declines_phone("0") and declines_phone("没有电话") and declines_phone("不想留。")
    assert declines_phone("我冇电话 在这里讲就行") and declines_phone("在这里回我")
    assert not declines_phone("13812345678") and not declines_phone("没有手机 座机0797-2831234")
    assert not declines_phone("刘婆婆")
