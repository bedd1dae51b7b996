"""The parts of knowledge/understanding.py and knowledge/danger.py that need no trained model:
short replies in context, the danger words, the decision, the dialogue state."""

from __future__ import annotations

import pytest

from knowledge import danger
from knowledge.cues import GREETING
from knowledge.lexical import plain
from knowledge.understanding import Candidate, Context, Params, decide, short_reply

MENU = Context(pending={"type": "clarify", "options": ["a", "b", "c"]})
OFFER = Context(pending={"type": "offer_staff", "question": "…"})
AFTER_ANSWER = Context(topic="nursing-subsidy")


@pytest.mark.parametrize(
    ("text", "context", "intent"),
    [
        ("2", MENU, "choose"),
        ("２", MENU, "choose"),
        ("二", MENU, "choose"),
        ("两", MENU, "choose"),
        ("第二个", MENU, "choose"),
        ("2 这个", MENU, "choose"),
        ("4 都不是", MENU, "deny"),  # none fits, whatever the digit: action_answer offers a person
        ("都不是", MENU, "deny"),
        ("4 都不对啊", MENU, "deny"),
        ("3", MENU, "choose"),  # the "都不是" line by its number: action_answer offers a person too
        ("冇得一个对的", MENU, "deny"),
        ("都不是我要的", MENU, "deny"),
        ("好", OFFER, "affirm"),
        ("要", OFFER, "affirm"),
        ("一", OFFER, "choose"),
        ("不用了", OFFER, "deny"),
        ("算了", Context(), "cancel"),
        ("算了", MENU, "cancel"),
        # digits inside a sentence are not choices; without a question open nothing is a short reply
        ("我今年65岁 能领吗", MENU, None),
        ("我妈70岁了呢？能申请吗", MENU, None),
        ("2", Context(), None),
        ("好", Context(), None),
        # a no and what they will do instead is a no, with or without a question open; a no
        # followed by asking for something is not
        ("不用了 我自己去镇上问", Context(), "deny"),
        ("不用了，我让崽去问", OFFER, "deny"),
        ("不要了 我要转人工", OFFER, None),
        ("不用了 能不能帮我申请", Context(), None),
        # right after an answer (no options on the screen): it missed; without an answer, nothing
        ("冇一个对的", AFTER_ANSWER, "deny"),
        ("你这个答非所问", AFTER_ANSWER, "deny"),
        ("冇一个对的", Context(), None),
        ("是不是都不对啊 对吗", AFTER_ANSWER, None),
    ],
)
def test_short_replies_are_read_in_context(text: str, context: Context, intent: str | None) -> None:
    assert short_reply(text, context) == intent


@pytest.mark.parametrize(
    ("text", "kinds", "strong"),
    [
        ("我儿子拿刀要砍我", {"police"}, True),
        ("我爸摔倒了爬不起来", {"medical"}, False),
        ("屋里着火了", {"fire"}, True),
        ("水已经到膝盖了", {"flood"}, False),
        ("我崽放学冇回来", {"missing"}, False),
        ("我不想活了", {"crisis"}, True),
        ("邻居把他锁在屋里几天没吃", {"neglect"}, True),
        ("崽放学几个钟头了还冇到屋", {"missing"}, False),
        ("房东把我赶出来了 冇地方去", {"neglect"}, False),
        ("今晚只能露宿了", {"neglect"}, True),
        ("他们把我哥绑在树上", {"police"}, True),
        # Hakka 唔 reads as 不; suicide means and notes are crisis talk whatever else is said
        ("我爸倒在田里 喊唔应", {"medical"}, True),
        ("我孙女唔见了", {"missing"}, False),
        ("我写好了遗书 跟你们说声再见", {"crisis"}, True),
        ("我想烧炭", {"crisis"}, True),
        ("孙子发烧到40度", {"medical"}, False),
        ("发烧四十度了", {"medical"}, False),
        ("我爷爷好像中风了 讲话讲不清", {"medical"}, False),
        ("他说要弄死我", {"police"}, False),
        ("昨晚一夜冇返屋", {"missing"}, False),
        # putting affairs in order, a calm farewell: warning signs of suicide
        ("我的东西都留给我崽 以后不用再麻烦你们了", {"crisis"}, True),
        ("后事我都交代好了", {"crisis"}, True),
        ("绳子都准备好了 跟你们讲声再见", {"crisis"}, True),
        # pills saved up, taking someone along, an end said calmly
        ("安眠药我存够了", {"crisis"}, True),
        ("照顾不动了 想带着我崽一起走", {"crisis"}, True),
        ("以后不要再来管我了", {"crisis"}, True),
        # a neighbour not seen for days behind a door no one opens; someone down who does not answer
        ("对门的阿婆三天冇看见了 敲门冇人开", {"neglect", "medical"}, True),
        ("我妈晕倒在灶前 叫她不应", {"medical"}, True),
    ],
)
def test_danger_words_name_their_kind(text: str, kinds: set[str], strong: bool) -> None:
    found = danger.find(text)
    assert kinds <= set(found.kinds) and found.strong == strong


def test_a_story_of_the_past_is_not_danger_now_but_crisis_talk_always_is() -> None:
    fall = danger.find("我爸三年前摔倒了爬不起来 后来一直瘫着 能办护理补贴吗")
    assert fall.past and not fall.strong
    crisis = danger.find("去年申请的补贴一直没批 我真的撑不下去了")
    assert crisis.past and crisis.crisis and crisis.strong


def test_a_handrail_question_is_not_a_fall() -> None:
    assert "medical" not in danger.find("厕所想装个扶手 蹲下去就起不来").kinds


def test_each_kind_has_its_lines_and_unknown_danger_gets_police_and_ambulance() -> None:
    assert danger.line_keys(["fire", "medical"]) == ["fire", "medical", "medical-tell"]
    assert danger.line_keys(["crisis"]) == ["crisis", "crisis-now"]  # the helpline to the person, 110 beside it
    assert danger.line_keys([]) == ["police-help", "medical"]


def _c(key: str, kid: str, score: float) -> Candidate:
    return Candidate(key, kid, score)


def test_decide_answers_offers_plausible_options_or_admits_not_knowing() -> None:
    p = Params()
    ranking = [_c("nursing", "m1.5", 0.5), _c("devices", "m4.5", 0.2), _c("school", "m3.1", 0.01)]
    assert decide([("m1.5", 0.8), ("m4.5", 0.1)], ranking, p) == ("answer", ())
    # two close IDs: one option each (their best entry); an unlikely third is not offered
    assert decide([("m1.5", 0.3), ("m4.5", 0.25), ("m3.1", 0.01)], ranking, p) == ("clarify", ("nursing", "devices"))
    # nothing likely enough, nothing close: "I don't know" (and a person is offered)
    assert decide([("m1.5", 0.2), ("m4.5", 0.05)], ranking, p) == ("unknown", ())


def test_the_dialogue_state_is_read_from_the_message_metadata() -> None:
    state = {"dialogue": {"topic": "nursing-subsidy", "pending": {"type": "clarify"}, "active_loop": "help_form"}}
    context = Context.from_metadata(state)
    assert (context.topic, context.pending, context.active_loop) == (
        "nursing-subsidy",
        {"type": "clarify"},
        "help_form",
    )
    assert Context.from_metadata(None) == Context()
    assert Context.from_metadata({"dialogue": {"pending": {"no": "type"}, "topic": 5}}) == Context()


def test_params_come_from_the_pipeline_config_and_ignore_other_keys() -> None:
    params = Params.from_config({"answer": "0.5", "model": "", "name": "knowledge.nlu.KnowledgeRanker"})
    assert params.answer == 0.5 and params.urgent == Params().urgent


def test_traditional_characters_and_cantonese_words_are_read_in_mandarin() -> None:
    assert plain("聽說殘疾人有兩種補貼") == "听说残疾人有两种补贴"
    assert plain("我係聾啞人 唔識講話 呢啲有冇得補") == "我是聋哑人 不识讲话 这些有冇得补"  # 冇 stays (Hakka)


def test_a_past_fire_where_no_one_was_hurt_is_a_story_not_an_emergency() -> None:
    found = danger.find("上个月屋里失火烧了两间房 人冇事 有冇救助")
    assert found.kinds == ("fire",) and found.past and found.safe
    assert not danger.find("屋里着火了 快来人").past


@pytest.mark.parametrize("text", ["老师好", "领导早上好", "大家好呀", "你好"])
def test_a_greeting_with_a_title_is_a_greeting(text: str) -> None:
    assert GREETING.fullmatch(text)


@pytest.mark.parametrize("text", ["好", "好啊", "好的", "老师好我想问补贴"])
def test_yes_words_and_greetings_with_a_question_are_not_bare_greetings(text: str) -> None:
    assert not GREETING.fullmatch(text)


def test_what_happens_now_is_not_a_story_of_the_past() -> None:
    assert not danger.find("去年申请过补贴 刚才他在厕所摔了 头上好多血").past


@pytest.mark.parametrize(
    "text", ["真的熬不下去了 这日子不想过了", "那我活着还有么子意思", "我想不开", "冇人管 再过几天我也就不在了"]
)
def test_despair_in_residents_words_is_crisis_talk(text: str) -> None:
    assert danger.find(text).crisis


def test_a_relative_who_passed_away_is_not_crisis_talk() -> None:
    assert not danger.find("我妈前年就不在了 现在我一个人带崽").crisis


@pytest.mark.parametrize("text", ["在吗老师", "老师在吗", "有人吗", "你好", "领导早上好", "在不在"])
def test_calling_out_is_a_greeting(text: str) -> None:
    from knowledge.cues import GREETING

    assert GREETING.fullmatch(text)


@pytest.mark.parametrize("text", ["在吗老师护理补贴怎么申请", "老师残疾孩子能上学吗"])
def test_a_greeting_with_a_question_is_not_only_a_greeting(text: str) -> None:
    from knowledge.cues import GREETING

    assert not GREETING.fullmatch(text)


@pytest.mark.parametrize(
    "text",
    [
        "县残联的电话几多 我打过去问",
        "叫村里的专职委员联系我",
        "帮我接通残联",
        "我想找管低保的那个干部",
        "有冇真人",
        "找人工 低保的事",
        "帮我对接一下管康复的同志",
    ],
)
def test_asking_for_a_person_or_a_number_to_call_one_is_a_person(text: str) -> None:
    from knowledge.cues import A_PERSON

    assert A_PERSON.search(text.replace(" ", ""))


@pytest.mark.parametrize(
    "text",
    ["办低保找哪个干部", "派出所电话多少", "请工作人员帮我爸办证", "村里是不是叫专职委员", "部门协同残联人社"],
)
def test_where_to_go_a_police_number_or_a_request_to_act_is_not_asking_for_a_person(text: str) -> None:
    from knowledge.cues import A_PERSON

    assert not A_PERSON.search(text)


@pytest.mark.parametrize(
    ("text", "acts"),
    [
        ("我外婆耳朵背得很 能不能帮她配一个助听器", True),
        ("我爸瘫了 证过期了 可不可以派个人上门帮他换", True),
        ("残联能帮我出面跟厂里讲吗", True),
        ("我爸瘫了 有冇人可以上门帮他办证", False),  # whether a service exists
        ("我妈的补贴能不能在深圳这边帮她办", False),  # whether it can be done there
        ("我爸走不动 村医可不可以上门看", False),  # whether doctors do that
    ],
)
def test_a_family_story_asking_staff_to_act_is_a_request(text: str, acts: bool) -> None:
    from knowledge.understanding import _asks_to_act

    assert _asks_to_act(text.replace(" ", "")) is acts


def test_asking_on_a_relatives_behalf_is_asking_but_asking_staff_to_ask_is_a_request() -> None:
    from knowledge.cues import ON_BEHALF

    assert ON_BEHALF.search("我帮我舅舅问的")
    assert not ON_BEHALF.search("帮我问问乡里为么子还冇批")


@pytest.mark.parametrize("text", ["我阿叔一个人住 冇儿冇女 他这种能进敬老院冇", "有冇那种白天可以送过去的地方"])
def test_a_hard_life_told_to_ask_about_a_measure_asks_about_a_measure(text: str) -> None:
    from knowledge.cues import MEASURE_QUESTION

    assert MEASURE_QUESTION.search(text.replace(" ", ""))


@pytest.mark.parametrize(
    ("text", "waiting"),
    [
        ("讲好两天回电话 到现在一个电话都冇", True),
        ("你们看到我的求助了冇", True),
        ("等了半个月了", True),
        ("讲了半天冇用", False),
        ("说好的补贴每个月发", False),
    ],
)
def test_waiting_past_a_promise_asks_for_the_status(text: str, waiting: bool) -> None:
    from knowledge.cues import WAITING

    assert bool(WAITING.search(text.replace(" ", ""))) is waiting


def test_telling_the_staff_of_a_request_something_is_passing_it_on() -> None:
    from knowledge.cues import PASS_ON

    assert PASS_ON.search("麻烦告诉管我那个事的工作人员来之前打电话")
