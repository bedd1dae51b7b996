"""How the help form and the bridge read what residents type (tickets/fields.py)."""

from __future__ import annotations

import pytest

from tickets.fields import (
    asks_back,
    declines_phone,
    is_filler,
    looks_like_question,
    note_content,
    parse_confirm,
    parse_name,
    parse_phone,
    parse_yes_no,
    reachable_in_chat,
)


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


@pytest.mark.parametrize("typed", ["0", "零", "〇", "好", "对", "提交", "好的 提交", "好的，提交！", "确认", "对的"])
def test_every_yes_confirms_the_summary(typed: str) -> None:
    assert parse_confirm(typed) == "yes"


@pytest.mark.parametrize(("typed", "answer"), [("3", 3), ("第五个", 5), ("不对", None), ("6", None), ("对不起", None)])
def test_a_field_number_or_nothing(typed: str, answer: int | None) -> None:
    assert parse_confirm(typed) == answer


@pytest.mark.parametrize("typed", ["对 就是这样", "好的", "嗯", "是的 没错", "没有了"])
def test_fillers_are_not_a_description(typed: str) -> None:
    assert is_filler(typed)


@pytest.mark.parametrize("typed", ["轮椅坏了", "对面邻居老人摔了", "补贴没到账，好几个月了"])
def test_real_descriptions_are_not_fillers(typed: str) -> None:
    assert not is_filler(typed)


@pytest.mark.parametrize(
    ("typed", "yes"),
    [("1", True), ("一", True), ("１", True), ("好", True), ("要", True), ("好的 转吧", True)]
    + [("2", False), ("二", False), ("不用", False), ("不要了", False), ("护理补贴多少钱", None), ("3", None)],
)
def test_yes_or_no_to_pass_it_on(typed: str, yes: bool | None) -> None:
    assert parse_yes_no(typed) is yes


@pytest.mark.parametrize("typed", ["护理补贴怎么申请", "你们是哪里的？", "能不能快点", "要多久啊?"])
def test_questions_are_not_names(typed: str) -> None:
    assert looks_like_question(typed) and parse_name(typed) is None


@pytest.mark.parametrize(("typed", "name"), [("王阿姨", "王阿姨"), ("我叫王秀英", "王秀英"), ("我姓李", "李")])
def test_names(typed: str, name: str) -> None:
    assert parse_name(typed) == name


@pytest.mark.parametrize(
    ("typed", "note"),
    [
        ("我还要补充：他的银行卡换过了", "他的银行卡换过了"),
        ("这句话也告诉工作人员：他的银行卡换过了", "他的银行卡换过了"),
        ("补充 银行卡是农商银行的", "银行卡是农商银行的"),
        ("XW-7K3P9 补充一下 补贴卡的户名是我老婆", "补贴卡的户名是我老婆"),
        ("告诉工作人员 我妈的身份证复印件已经拿到村委会了", "我妈的身份证复印件已经拿到村委会了"),
        ("上次忘了讲 我们家住在村尾", "上次忘了讲 我们家住在村尾"),
        ("我还要补充", ""),
        ("补充一下", ""),
        ("我要补充情况", ""),
        ("我还有话要跟工作人员说", ""),
        ("再补充个情况", ""),
    ],
)
def test_note_content(typed: str, note: str) -> None:
    assert note_content(typed) == note


def test_staff_questions_and_channels() -> None:
    assert asks_back("您家住几楼？") and asks_back("what floor? ") and asks_back("（电话多少？）")
    assert not asks_back("好的，明天来。")
    assert reachable_in_chat("tg:5:5") and not reachable_in_chat("local-1") and not reachable_in_chat("rest-x")
    assert declines_phone("0") and declines_phone("没有电话") and declines_phone("不想留。")
    assert not declines_phone("13812345678")
