"""Words that say a person may be in danger now, and which emergency lines fit them.

Used twice: by the understanding step (knowledge/understanding.py), where a danger word
lowers the bar for reading a message as `urgent` (recall matters more than precision: a
false alarm costs a staff member a minute, a miss can cost a life), and by the urgent
action (actions/urgent.py), which says the emergency lines of `knowledge/emergency.yml`
for the kinds found here. Text is compared after traditional → simplified folding.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# kind → words. The kinds name the lines of knowledge/emergency.yml (police, medical, fire,
# flood, missing, crisis); "neglect" (locked up, starving, abandoned) is a matter for 110.
KINDS: dict[str, tuple[str, ...]] = {
    "crisis": (
        "不想活",
        "活不下去",
        "活着没意思",
        "活着冇意思",
        "活着有什么意思",
        "活着没什么意思",
        "想死",
        "寻死",
        "自杀",
        "轻生",
        "跳楼",
        "跳河",
        "跳水库",
        "跳塘",
        "喝农药",
        "吃农药",
        "喝药",
        "吞药",
        "安眠药",
        "割腕",
        "上吊",
        "一了百了",
        "活够了",
        "不活了",
        "死了算了",
        "死掉算了",
        "结束生命",
        "了结自己",
        "拖累",
        "去死",
        "死了好",
        "死了就",
        "不如死",
        "活着太累",
        "想解脱",
    ),
    "police": (
        "绑在",
        "绑起来",
        "捆在",
        "捆起来",
        "拿刀",
        "持刀",
        "菜刀",
        "柴刀",
        "砍",
        "杀人",
        "要杀",
        "杀了",
        "打我",
        "打人",
        "打死",
        "打伤",
        "动手",
        "家暴",
        "殴打",
        "掐",
        "勒住",
        "威胁",
        "抢劫",
        "闯进",
        "砸门",
        "砸东西",
        "拿棍",
        "强奸",
        "性侵",
        "猥亵",
        "虐待",
        "绑起来",
        "拐走",
        "拐卖",
        "喝醉",
        "发酒疯",
        "发疯",
        "打老婆",
        "打老公",
        "斧头",
        "锄头打",
        "弄死",
        "搞死",
        "放火",
        "拳打脚踢",
        "铁链",
    ),
    "medical": (
        "流血",
        "出血",
        "血流",
        "吐血",
        "便血",
        "晕倒",
        "昏倒",
        "昏迷",
        "晕过去",
        "晕了",
        "不省人事",
        "叫不醒",
        "叫不应",
        "喊不应",
        "没反应",
        "冇反应",
        "没有反应",
        "喘不上气",
        "喘不过气",
        "呼吸困难",
        "没气",
        "没呼吸",
        "没有呼吸",
        "抽搐",
        "抽筋",
        "口吐白沫",
        "抽风",
        "嘴歪",
        "说不出话",
        "胸口痛",
        "胸痛",
        "心口痛",
        "心脏病",
        "发高烧",
        "高烧",
        "摔倒",
        "摔了",
        "跌倒",
        "跌了",
        "骨折",
        "烫伤",
        "烧伤",
        "中毒",
        "误食",
        "噎住",
        "触电",
        "溺水",
        "休克",
        "快不行",
        "不行了",
        "送医院",
        "倒在地上",
        "倒地",
        "中风",
        "脑梗",
        "心梗",
        "羊癫疯",
        "癫痫发作",
        "蛇咬",
        "被车撞",
        "车祸",
        "头破",
        "发紫",
        "透不过气",
        "药吃多",
        "吃错药",
        "一整瓶",
    ),
    "fire": (
        "着火",
        "起火",
        "失火",
        "火灾",
        "烧起来",
        "冒烟",
        "浓烟",
        "火烧",
        "煤气",
        "燃气",
        "液化气",
        "漏气",
        "爆炸",
    ),
    "flood": (
        "进水",
        "水已经",
        "到膝盖",
        "到腰",
        "进屋了",
        "淹",
        "涨水",
        "发大水",
        "洪水",
        "大水",
        "水漫",
        "被水",
        "泥石流",
        "山体滑坡",
        "滑坡",
        "塌方",
        "塌了",
        "倒塌",
        "地震",
        "被困",
        "困住",
        "出不来",
        "冲走",
    ),
    "missing": (
        "走丢",
        "走失",
        "不见了",
        "失踪",
        "找不到人",
        "找不到他",
        "找不到她",
        "找不着",
        "没回来",
        "冇回来",
        "没有回来",
        "还没回",
        "未回",
        "联系不上",
        "不知去向",
        "跑出去",
        "没回家",
        "冇回家",
        "冇到屋",
        "没到屋",
        "冇到家",
        "没到家",
        "冇回屋",
        "没回屋",
        "冇返屋",
        "没返屋",
        "冇见人",
        "不见人",
    ),
    "neglect": (
        "关起来",
        "锁起来",
        "锁在",
        "关在",
        "饿死",
        "没饭吃",
        "冇饭吃",
        "几天没吃",
        "没吃饭",
        "饿了几天",
        "没人管",
        "丢下",
        "遗弃",
        "扔下不管",
        "冇地方去",
        "没地方去",
        "无处可去",
        "赶出来",
        "赶出门",
        "丢出来",
        "无家可归",
        "露宿",
        "睡在路边",
        "睡大街",
    ),
}
# Words that alone mean danger now, whatever else the message says.
STRONG: frozenset[str] = frozenset(
    {
        "不想活",
        "活不下去",
        "活着没意思",
        "活着冇意思",
        "想死",
        "寻死",
        "自杀",
        "轻生",
        "跳楼",
        "跳河",
        "喝农药",
        "吃农药",
        "安眠药",
        "割腕",
        "上吊",
        "一了百了",
        "活够了",
        "不活了",
        "死了算了",
        "结束生命",
        "拿刀",
        "持刀",
        "杀人",
        "要杀",
        "打死",
        "家暴",
        "强奸",
        "性侵",
        "叫不醒",
        "叫不应",
        "喊不应",
        "不省人事",
        "昏迷",
        "没气",
        "没呼吸",
        "没有呼吸",
        "喘不上气",
        "喘不过气",
        "口吐白沫",
        "休克",
        "快不行",
        "着火",
        "起火",
        "失火",
        "火灾",
        "烧起来",
        "浓烟",
        "漏气",
        "被困",
        "泥石流",
        "山体滑坡",
        "冲走",
        "走丢",
        "走失",
        "失踪",
        "饿死",
        "几天没吃",
        "绑在",
        "捆在",
        "无家可归",
        "露宿",
        "睡在路边",
        "睡大街",
    }
)
# A fever of 39 °C or more, in digits or words ("烧到40度", "发烧四十度").
FEVER = re.compile(r"(?:烧|热)(?:到|了)?(?:39|40|41|42|三十九|四十)")
# A fall that keeps someone down ("摔倒了起不来"); "起不来" alone is also how people describe
# a bad knee when they ask for a handrail.
FALL = re.compile(r"(?:摔|跌|倒|滑).{0,8}(?:起不来|爬不起来|动不了|不能动)")
# Talk of ending one's life counts whatever else the message says, a past included.
CRISIS_STRONG = frozenset(
    (
        "不想活 活不下去 想死 寻死 自杀 轻生 跳楼 跳河 喝农药 吃农药 安眠药 割腕 上吊 一了百了 "
        "活够了 不活了 死了算了 结束生命 撑不下去 熬不下去 日子不想过 不想过了 想不开 不如死 割脖子 "
        "活着没意思 活着冇意思 活着没什么意思 活着有什么意思 活着还有什么意思 活着还有么子意思 "
        "我就不在了 我也就不在了 过几天就不在了 不在人世 离开这个世界 离开这个世上 见不到我了 "
        "遗书 遗言 烧炭 敌敌畏 百草枯 割脉 不想再拖累"
    ).split()
)
# Putting one's affairs in order and saying farewell: warning signs of suicide, however calm
# ("我的东西都留给我崽 以后不用再麻烦你们了").
FAREWELL = re.compile(
    r"(?:东西|钱|房子|存折|田|地)(?:都|全部)?留给|后事.{0,4}(?:交代|安排|准备)|(?:交代|安排|准备).{0,2}后事|永别|"
    r"(?:以后|再也)(?:不用|不会)再?麻烦你们|最后一次(?:跟|和|麻烦)你们|"
    r"(?:绳子|农药|安眠药|炭|刀片|老鼠药).{0,3}(?:都|也)?(?:准备好|备好|买好|放好)|"
    # pills saved up ("药我已经攒够了"), taking someone along ("真想带着她一起走了算了"), an end said
    # calmly ("这辈子就这样吧 明天开始不用再来找我了", "谢谢你们这些年的照顾")
    r"药.{0,4}(?:攒|存|囤)(?:够|好|齐)|(?:攒|存|囤)(?:够|好|齐)?了?.{0,2}药|"
    r"一起走了?算了|一起(?:去)?死|想(?:带|抱|拉)着?.{0,4}一起走|同归于尽|"
    r"这辈子就这样(?:吧|算了)|(?:明天|以后|从今|今后).{0,4}(?:不用|别|不要)再?来?(?:找|管)我|谢谢你们这些年"
)
# Calling someone who does not answer ("喊他不应", "叫都唔应"): medical; with a fall or a faint, strong
# ("我爸倒在厕所里 喊他不应"). (A baby who does not turn to a voice is a hearing question: weak.)
UNRESPONSIVE = re.compile(r"(?:喊|叫)(?:他|她|佢|人)?(?:也|都)?不(?:应|醒|答应)")
DOWN = re.compile(r"倒|跌|摔|晕|抽|躺在地")
# Someone not seen for days who does not open the door ("好几天冇见他出门了 敲门也不开 窗户那里有股
# 怪味"): a neighbour may be lying hurt or dead inside; one of these alone is a weak word.
UNSEEN = re.compile(r"(?:几天|好几天|两天|三天|多天|一个礼拜|一个星期)(?:都)?(?:冇|没|没有|不)(?:见|看到|看见)")
NO_ANSWER = re.compile(
    r"(?:敲门|喊|叫)(?:他|她)?(?:也|都)?(?:不开|(?:冇|没|没有)人?(?:应|开|回)|不应|(?:冇|没)反应)|怪味|臭味|发臭"
)
# Words that put what follows in the past ("我爸三年前摔断了腿"): a weak danger word then
# probably tells a story, not an emergency.
PAST = re.compile(
    r"以前|之前|前年|去年|年前|那年|小时候|多年|几年前|曾经|当年|早年|出生|生下来|从小|后来"
    r"|上个月|上月|上个礼拜|上礼拜|上星期|上周|几个月前|前几个月|前段时间"
)
# Words that put it back in the present ("去年申请过…刚才他摔了"): then the past words do not count.
NOW = re.compile(r"刚才|刚刚|现在|今天|今朝|今晚|今早|这会|马上|正在|快来|救命|这几天")
# Words that say no one is in danger now ("烧了两间房 人冇事").
SAFE = re.compile(r"人(?:都)?(?:冇|没|没有)事|(?:冇|没|没有)人受伤|人都好好的|人(?:都)?平安")
# The lines said for each kind (keys of knowledge/emergency.yml), most important first.
LINES: dict[str, tuple[str, ...]] = {
    "crisis": ("crisis", "crisis-now"),  # to the person first; 110 beside it (12356 may not answer at night)
    "police": ("police",),
    "medical": ("medical", "medical-tell"),
    "fire": ("fire",),
    "flood": ("flood", "flood-move"),
    "missing": ("missing",),
    "neglect": ("police-help",),
}
DEFAULT_LINES = ("police-help", "medical")


@dataclass(frozen=True)
class Danger:
    """The danger words of a message: their kinds, and whether one is strong."""

    kinds: tuple[str, ...]
    strong: bool
    past: bool
    crisis: bool = False  # talk of ending one's life
    safe: bool = False  # it says no one is hurt now

    @property
    def any(self) -> bool:
        return bool(self.kinds)


def find(text: str) -> Danger:
    """The danger kinds named in `text` (simplified Chinese; see knowledge.lexical.normalise).
    Hakka and Cantonese 唔 reads as 不 ("叫唔醒", "唔想活了")."""
    text = text.replace("唔", "不")
    kinds = [kind for kind, words in KINDS.items() if any(w in text for w in words)]
    unresponsive = bool(UNRESPONSIVE.search(text))
    if (FALL.search(text) or FEVER.search(text) or unresponsive) and "medical" not in kinds:
        kinds.append("medical")
    unseen, no_answer = bool(UNSEEN.search(text)), bool(NO_ANSWER.search(text))
    if (unseen or (no_answer and "敲门" in text)) and "neglect" not in kinds:
        kinds.append("neglect")
    if unseen and no_answer and "medical" not in kinds:
        kinds.append("medical")  # who does not open may be lying ill inside
    crisis = any(w in text for w in CRISIS_STRONG) or bool(FAREWELL.search(text))
    if crisis and "crisis" not in kinds:
        kinds.insert(0, "crisis")
    strong = (
        crisis or any(w in text for w in STRONG) or (unseen and no_answer) or (unresponsive and bool(DOWN.search(text)))
    )
    past = bool(PAST.search(text)) and not NOW.search(text)
    return Danger(tuple(kinds), strong, past, crisis, bool(SAFE.search(text)))


def line_keys(kinds: tuple[str, ...] | list[str]) -> list[str]:
    """The emergency lines to say for `kinds` (each once, in the order of the kinds)."""
    keys = [key for kind in kinds for key in LINES.get(kind, ())] or list(DEFAULT_LINES)
    return list(dict.fromkeys(keys))
