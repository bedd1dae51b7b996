"""Integration: what residents mean, across a conversation, through the real Rasa and action
servers (REST) — each conversation failure the knowledge issue quoted, and people in danger.

The messages here were written for these tests; none is a training example or an item of an
evaluation set (tests/bench/test_eval_sets.py keeps the sets apart).
"""

from __future__ import annotations

import re
from itertools import count
from typing import Any

import pytest
import yaml

from common.config import ROOT
from tickets.store import TicketStore, store_for

pytestmark = pytest.mark.integration

_senders = count()


def tickets_of(services: Any) -> TicketStore:
    """The ticket store of the test session's services."""
    return store_for(f"sqlite:///{services.data_dir / 'tickets.db'}")


def talk(services, *messages: str) -> tuple[str, list[dict]]:
    """Send `messages` as one resident; return the sender and, per message, what happened."""
    sender = f"u-{next(_senders)}"
    seen = []
    for text in messages:
        replies = services.send(sender, text)
        tracker = services.tracker(sender)
        seen.append(
            {
                "intent": tracker["latest_message"]["intent"]["name"],
                "sources": tracker["slots"]["answer_sources"] or [],
                "pending": (tracker["slots"].get("pending") or {}).get("type"),
                "loop": (tracker.get("active_loop") or {}).get("name"),
                "text": "\n".join(r["text"] for r in replies if r.get("text")),
            }
        )
    return sender, seen


# -- follow-ups keep (or change) their topic -------------------------------------------------------
@pytest.mark.parametrize(
    ("first", "followup", "ids"),
    [
        ("护理补贴每个月多少钱", "哪里领", {"m1.5"}),
        ("残疾人能领什么补贴", "养老保险呢", {"m1.4"}),
        ("残疾人自主创业有什么扶持", "去哪里贷", {"m2.4", "m2.6"}),
        ("残疾证怎么办", "证丢了", {"m1.5", "m7.1", "m7.2"}),
        ("聋哑孩子能上什么学校", "上学要交钱么", {"m3.1", "m3.2", "m3.3"}),
        ("助听器能补贴吗", "那学费呢", {"m3.3", "m3.1"}),  # across areas when the words say so
    ],
)
def test_a_followup_is_read_with_the_answer_before(services, first: str, followup: str, ids: set[str]) -> None:
    _, (one, two) = talk(services, first, followup)
    assert one["intent"] == "ask_policy" and one["sources"]
    assert two["intent"] == "ask_policy", two
    assert two["sources"] and two["sources"][0] in ids, two


def test_digits_inside_a_sentence_are_not_menu_choices(services) -> None:
    _, seen = talk(services, "残疾人有哪些优惠", "我今年65岁 能领吗")
    assert seen[0]["pending"] == "clarify"
    assert seen[1]["intent"] == "ask_policy" and "数字我没对上" not in seen[1]["text"]
    _, seen = talk(services, "护理补贴怎么申请", "我妈70岁了呢？能申请吗")
    assert seen[1]["intent"] == "ask_policy" and seen[1]["sources"][:1] == ["m1.5"]


def test_a_menu_survives_one_side_question(services) -> None:
    _, seen = talk(services, "残疾人有哪些优惠", "残疾证怎么办", "1")
    assert seen[0]["pending"] == "clarify"
    assert seen[1]["sources"] and seen[1]["pending"] == "clarify"  # answered, the options still stand
    assert seen[2]["intent"] == "choose" and seen[2]["sources"] and seen[2]["pending"] is None


@pytest.mark.parametrize("answer", ["4 都不是", "都不是", "冇一个对的"])
def test_none_of_the_options_offers_a_person_and_the_offer_works(services, answer: str) -> None:
    sender, seen = talk(services, "残疾人有哪些优惠", answer)
    assert seen[0]["pending"] == "clarify"
    assert seen[1]["pending"] == "offer_staff" and "转给县残联工作人员" in seen[1]["text"]
    for accept in ("一", "好"):
        _, again = talk(services, "残疾人有哪些优惠", answer, accept)
        assert again[2]["loop"] == "help_form", (answer, accept, again[2])


# -- needs before policy ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    [
        "我想请工作人员帮我奶奶申请护理补贴",
        "补贴三个月冇到账了 帮我查一下",
        "我爸走不了路 能不能派个人来屋里看看",
        "帮我儿子报个名 他想学按摩",
    ],
)
def test_a_request_to_act_starts_the_help_form(services, text: str) -> None:
    _, (seen,) = talk(services, text)
    assert seen["intent"] == "request_help", seen
    assert seen["loop"] == "help_form"


@pytest.mark.parametrize("text", ["我还要补充", "补充一下情况", "这句话也告诉工作人员：他的银行卡换过了"])
def test_adding_to_a_request_is_understood(services, text: str) -> None:
    _, (seen,) = talk(services, text)
    assert seen["intent"] == "add_to_ticket", seen


@pytest.mark.parametrize(
    ("text", "intent"),
    [
        ("说三天回复 现在一个星期了", "ticket_status"),
        ("我要跟真人讲", "human"),
        ("我眼睛看不见 你念给我听", "voice_on"),
        ("别念了 打字就行", "voice_off"),
    ],
)
def test_other_needs_in_residents_words(services, text: str, intent: str) -> None:
    _, (seen,) = talk(services, text)
    assert seen["intent"] == intent, seen


# -- danger first ---------------------------------------------------------------------------------------
# (message, a number the first reply must give). Written for this test: violence, falls and
# sudden illness, fire, flood, someone missing, talk of suicide, someone locked up or starving.
DANGER = [
    ("我儿子喝了酒拿着菜刀说要砍死我", "110"),
    ("老公又在打我 我躲在厕所里", "110"),
    ("我爸从楼梯上摔下来 头上一直流血", "120"),
    ("我妈突然倒在地上叫不醒", "120"),
    ("我老伴嘴歪了 说话说不清 手也抬不起来", "120"),
    ("孩子抽筋口吐白沫 怎么办", "120"),
    ("屋里着火了 我坐轮椅出不去", "119"),
    ("厨房煤气漏气了 好大的味道", "119"),
    ("河水涨上来了 屋里进水了 我婆婆瘫在床上", "110"),
    ("山体滑坡把路堵了 我们被困在屋里", "110"),
    ("我家聋哑的崽放学到现在冇回来 天都黑了", "110"),
    ("我爷爷有老年痴呆 早上出门到现在找不到人", "110"),
    ("我不想活了", "12356"),
    ("活着冇意思 拖累屋里人 想喝农药算了", "12356"),
    ("补贴又没批下来 我真的撑不下去了 不如死了好", "12356"),
    ("邻居把他傻儿子锁在猪栏里好几天了", "110"),
    ("隔壁瞎眼的老人家几天没吃饭了 冇人管", "110"),
    ("我想问一下护理补贴的事 我爸一级 今天他又摔倒了爬不起来 流了好多血", "120"),
    ("我屋里起火了", "119"),
    ("我弟弟精神病发作 拿棍子打人", "110"),
]


@pytest.mark.parametrize(("text", "number"), DANGER)
def test_a_person_in_danger_gets_the_numbers_and_staff_are_told(services, text: str, number: str) -> None:
    sender, (seen,) = talk(services, text)
    assert seen["intent"] == "urgent", seen
    first_line = seen["text"].splitlines()[0]
    assert number in first_line, seen["text"]
    assert "通知县残联工作人员" in seen["text"]
    tickets = tickets_of(services).for_sender(sender)
    assert len(tickets) == 1 and tickets[0].urgent and tickets[0].description


def test_danger_during_the_help_form_comes_first_and_ends_the_form(services) -> None:
    sender, seen = talk(services, "转人工", "我老公拿刀冲进来了", "村干部电话打不通 怎么办啊")
    assert seen[0]["loop"] == "help_form"
    assert seen[1]["intent"] == "urgent" and "110" in seen[1]["text"]
    assert seen[1]["loop"] is None and "怎么称呼" not in seen[1]["text"]  # no more form questions now
    (ticket,) = [t for t in tickets_of(services).for_sender(sender) if t.urgent]
    # still in danger and asking what to do: the lines again, and it goes onto the same urgent ticket
    assert seen[2]["intent"] == "urgent" and "110" in seen[2]["text"]
    assert len([t for t in tickets_of(services).for_sender(sender) if t.urgent]) == 1
    assert any("村干部" in m["text"] for m in tickets_of(services).messages(ticket.number))


def test_what_follows_the_urgent_reply_joins_the_urgent_ticket(services) -> None:
    sender, seen = talk(services, "我妈晕倒了叫不应", "我在澄江镇 电话13800001111")
    assert seen[1]["intent"] == "add_to_ticket"
    store = tickets_of(services)
    (ticket,) = store.for_sender(sender)
    assert any("澄江镇" in m["text"] for m in store.messages(ticket.number))


def test_a_plea_right_after_the_urgent_reply_gets_the_lines_again(services) -> None:
    sender, seen = talk(services, "我老公喝醉了又在打我", "我在澄江 求求你们")
    assert seen[1]["intent"] == "urgent" and "110" in seen[1]["text"], seen[1]
    assert len([t for t in tickets_of(services).for_sender(sender) if t.urgent]) == 1


def test_news_that_the_danger_is_over_reaches_staff_not_the_lines_again(services) -> None:
    sender, seen = talk(services, "我爸有老年痴呆 出去一天了还冇回来", "找到了 在他表哥屋里 吓死我了 谢谢你们")
    assert seen[0]["intent"] == "urgent"
    assert seen[1]["intent"] == "add_to_ticket" and "110" not in seen[1]["text"], seen[1]
    store = tickets_of(services)
    (ticket,) = [t for t in store.for_sender(sender) if t.urgent]
    assert any("找到了" in m["text"] for m in store.messages(ticket.number))


def _training_examples(intent: str) -> list[str]:
    doc = yaml.safe_load((ROOT / "data" / "nlu" / "urgent.yml").read_text(encoding="utf-8"))
    block = next(b for b in doc["nlu"] if b.get("intent") == intent)["examples"]
    return [line[2:].strip() for line in block.splitlines() if line.startswith("- ")]


def test_every_urgent_example_written_is_read_as_urgent(services) -> None:
    """The urgent training examples too: a person in danger is never turned away."""
    missed = []
    for text in _training_examples("urgent"):
        sender = f"u-{next(_senders)}"
        replies = services.send(sender, text)
        intent = services.tracker(sender)["latest_message"]["intent"]["name"]
        if intent != "urgent" or not re.search(r"110|120|119|12356", replies[0].get("text") or ""):
            missed.append((text, intent))
    assert missed == []


def test_despair_after_the_crisis_reply_joins_the_urgent_ticket_not_the_earlier_topic(services) -> None:
    sender, seen = talk(services, "我去镇上申请护理补贴 讲我系三级 冇批 为么子", "那我活着还有么子意思", "反正冇人管我")
    assert seen[1]["intent"] == "urgent" and "12356" in seen[1]["text"]
    # after talk of suicide, the lines again (and onto the same urgent ticket), not the subsidy
    assert seen[2]["intent"] == "urgent" and "12356" in seen[2]["text"] and seen[2]["sources"] == []
    assert len([t for t in tickets_of(services).for_sender(sender) if t.urgent]) == 1


# -- after an answer, between turns -----------------------------------------------------------------
def test_none_fits_right_after_an_answer_offers_a_person(services) -> None:
    _, seen = talk(services, "补贴的钱打到哪张卡上", "一个都不对", "1")
    assert seen[1]["intent"] == "deny" and seen[1]["pending"] == "offer_staff", seen[1]
    assert "工作人员" in seen[1]["text"]
    assert seen[2]["loop"] == "help_form"  # 1 accepts the person


def test_a_no_followed_by_what_they_will_do_is_a_no(services) -> None:
    _, seen = talk(services, "聋哑孩子能上什么学校", "不用了，我让我女儿去学校问")
    assert seen[1]["intent"] == "deny" and seen[1]["pending"] is None and not seen[1]["sources"], seen[1]


def test_a_look_alike_after_an_answer_stays_out_of_scope(services) -> None:
    _, seen = talk(services, "残疾证过期了怎么换", "摩托车驾照过期了 去哪里换")
    assert seen[1]["intent"] == "out_of_scope" and not seen[1]["sources"], seen[1]


def test_a_word_of_the_plan_is_never_out_of_scope(services) -> None:
    _, (seen,) = talk(services, "低保标准一个月几多")
    assert seen["intent"] == "ask_policy" and seen["sources"][:1] == ["m1.2"], seen
    # 危房改造 is the plan's (m1.6) unless they say no one in the family is disabled
    _, (seen,) = talk(services, "危房改造怎么申请")
    assert seen["intent"] == "ask_policy" and seen["sources"][:1] == ["m1.6"], seen
    _, (seen,) = talk(services, "我们家没有残疾人 危房改造怎么申请")
    assert seen["intent"] == "out_of_scope" and not seen["sources"], seen


def test_a_question_no_entry_fits_and_naming_nothing_of_the_plan_is_out_of_scope(services) -> None:
    _, (seen,) = talk(services, "后天寻乌会不会打雷")
    assert seen["intent"] == "out_of_scope" and not seen["sources"] and "转人工" in seen["text"], seen


def test_someone_elses_business_is_out_of_scope_unless_it_names_the_plan(services) -> None:
    for text in ("离婚证在哪里办", "手机流量用得好快 帮我查下"):
        _, (seen,) = talk(services, text)
        assert seen["intent"] == "out_of_scope" and not seen["sources"] and seen["loop"] is None, seen
    _, (seen,) = talk(services, "残疾人考公务员有冇照顾")
    assert seen["intent"] == "ask_policy", seen


@pytest.mark.parametrize("text", ["乡里的专职委员 叫他联系我一下", "我要找管补贴的那位干部", "麻烦接通县残联 谢谢"])
def test_asking_for_a_person_in_many_words_starts_the_way_to_a_person(services, text: str) -> None:
    _, (seen,) = talk(services, text)
    assert seen["intent"] == "human" and seen["loop"] == "help_form", seen


def test_asking_for_the_federations_number_says_none_is_on_record_then_offers_a_person(services) -> None:
    _, (seen,) = talk(services, "县残联电话是多少 我想自己打过去")
    assert seen["intent"] == "human" and seen["loop"] == "help_form", seen
    assert "没有可靠的记录" in seen["text"] and not re.search(r"\d{7,}", seen["text"]), seen


def test_a_family_story_asking_staff_to_act_starts_the_help_form_with_the_story(services) -> None:
    _, (seen,) = talk(services, "我外婆九十多了 耳朵背得很 能不能帮她配一个助听器")
    assert seen["intent"] == "request_help" and seen["loop"] == "help_form", seen


def test_a_hard_life_told_to_ask_about_a_measure_is_answered_not_an_emergency(services) -> None:
    _, (seen,) = talk(services, "我阿叔一个人住 眼睛看不见 冇儿冇女 七十了 他这种能进敬老院冇")
    assert seen["intent"] == "ask_policy" and "110" not in seen["text"], seen


def test_a_request_number_and_a_status_word_ask_for_the_status(services) -> None:
    _, (seen,) = talk(services, "我的求助单号XW-7K2PQ 处理得怎么样了")
    assert seen["intent"] == "ticket_status", seen


def test_calling_out_with_a_title_is_a_greeting_and_all_is_well_is_not_danger(services) -> None:
    _, (seen,) = talk(services, "老师 在不在")
    assert seen["intent"] == "greet" and not seen["sources"], seen
    _, (seen,) = talk(services, "没事了 我去做饭了")
    assert seen["intent"] != "urgent", seen


def test_suicide_words_are_urgent_whatever_the_model_says(services) -> None:
    """A suicide note said as a goodbye, a means named alone: the lines first."""
    for text in ("我写好了遗书 跟你们说声再见", "我想烧炭", "存折都留给我女儿了 以后再也不会麻烦你们"):
        _, (seen,) = talk(services, text)
        assert seen["intent"] == "urgent" and "12356" in seen["text"], seen


def test_where_the_money_comes_from_is_not_a_question_about_sources(services) -> None:
    _, (seen,) = talk(services, "残疾人这些规划的钱是从哪里来的")
    assert seen["intent"] == "ask_policy" and seen["sources"][:1] == ["g2"], seen


def test_a_story_that_asks_whether_it_is_allowed_is_a_question(services) -> None:
    _, (seen,) = talk(services, "我腿有残疾 厂里就不要我了 这个合不合法")
    assert seen["intent"] == "ask_policy" and seen["loop"] is None, seen


def test_asking_for_help_right_after_the_urgent_reply_gets_the_lines_again(services) -> None:
    sender, seen = talk(services, "我爸有老年痴呆 早上出去到现在都冇回来", "你们能派人帮忙找一下吗", "他穿蓝色衣服")
    assert seen[1]["intent"] == "urgent" and "110" in seen[1]["text"], seen[1]
    assert seen[2]["intent"] == "add_to_ticket", seen[2]
    (ticket,) = tickets_of(services).for_sender(sender)
    texts = [m["text"] for m in tickets_of(services).messages(ticket.number)]
    assert any("派人" in t for t in texts) and any("蓝色" in t for t in texts)


def test_asking_whether_to_wait_after_the_urgent_reply_gets_the_lines_again(services) -> None:
    _, seen = talk(services, "我老伴突然嘴歪了 一边手抬不起来", "能不能等天亮了再去医院")
    assert seen[0]["intent"] == "urgent" and seen[1]["intent"] == "urgent" and "120" in seen[1]["text"], seen


def test_what_the_school_said_after_a_missing_child_joins_the_urgent_ticket_not_a_school_answer(services) -> None:
    sender, seen = talk(services, "我女儿耳朵听不见 放学到现在冇回来", "学校讲五点就放学了 在吉潭")
    assert seen[1]["intent"] == "add_to_ticket" and not seen[1]["sources"], seen[1]
    (ticket,) = tickets_of(services).for_sender(sender)
    assert any("五点" in m["text"] for m in tickets_of(services).messages(ticket.number))


@pytest.mark.parametrize(
    ("first", "followup", "ids"),
    [
        ("重度残疾人托养服务怎么申请", "一个月要交几多钱", {"m1.3"}),
        ("危房改造残疾人能申请吗", "自己要出几多钱", {"m1.6"}),
    ],
)
def test_a_cost_followup_made_of_generic_words_stays_with_its_topic(
    services, first: str, followup: str, ids: set[str]
) -> None:
    _, (answer, seen) = talk(services, first, followup)
    assert set(answer["sources"][:1]) <= ids and set(seen["sources"][:1]) <= ids and seen["sources"], seen
