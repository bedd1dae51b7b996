"""How residents' short replies and notes, and staff replies, are read (tickets/replies.py)."""

from __future__ import annotations

import pytest

from tickets.replies import asks_back, is_filler, note_content, parse_confirm, parse_yes_no


@pytest.mark.parametrize(
    "typed",
    ["0", "零", "〇", "好", "对", "提交", "好的 提交", "好的，提交！", "确认", "对的"]
    + ["冇错 提交", "都对", "全对了", "对 冇错", "要得", "OK", "提交啦", "冇问题"],
)
def test_every_yes_confirms_the_summary(typed: str) -> None:
    assert parse_confirm(typed) == "yes"


@pytest.mark.parametrize(
    ("typed", "answer"),
    [("3", 3), ("第五个", 5), ("不对", None), ("6", None), ("对不起", None), ("都不对", None), ("冇对", None)],
)
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


def test_staff_questions() -> None:
    assert asks_back("您家住几楼？") and asks_back("what floor? ") and asks_back("（电话多少？）")
    assert not asks_back("好的，明天来。")
