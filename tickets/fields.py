"""What a ticket holds, and how a resident's typed answers become its fields (the help form)."""

from __future__ import annotations

import re

from common.choices import digit_choice, fold

NUMBER_IN_TEXT = re.compile(r"(?i)xw[\s\-]*[0-9a-z]{5}")

# The county's 7 镇 and 8 乡 (寻乌县), in the order the form lists them.
TOWNSHIPS = (
    "长宁镇",
    "晨光镇",
    "留车镇",
    "南桥镇",
    "吉潭镇",
    "澄江镇",
    "桂竹帽镇",
    "文峰乡",
    "三标乡",
    "菖蒲乡",
    "龙廷乡",
    "丹溪乡",
    "项山乡",
    "水源乡",
    "罗珊乡",
)
# Common typos and homophones residents type for a township's short name.
TOWNSHIP_ALIASES = {
    "常宁": "长宁镇",
    "长林": "长宁镇",
    "县城": "长宁镇",
    "城里": "长宁镇",
    "晨光": "晨光镇",
    "辰光": "晨光镇",
    "留车": "留车镇",
    "流车": "留车镇",
    "南桥": "南桥镇",
    "南乔": "南桥镇",
    "吉潭": "吉潭镇",
    "吉谭": "吉潭镇",
    "澄江": "澄江镇",
    "城江": "澄江镇",
    "桂竹帽": "桂竹帽镇",
    "贵竹帽": "桂竹帽镇",
    "桂竹": "桂竹帽镇",
    "文峰": "文峰乡",
    "文丰": "文峰乡",
    "三标": "三标乡",
    "三彪": "三标乡",
    "菖蒲": "菖蒲乡",
    "昌蒲": "菖蒲乡",
    "龙廷": "龙廷乡",
    "龙庭": "龙廷乡",
    "丹溪": "丹溪乡",
    "单溪": "丹溪乡",
    "项山": "项山乡",
    "向山": "项山乡",
    "水源": "水源乡",
    "罗珊": "罗珊乡",
    "罗山": "罗珊乡",
}
CATEGORIES = (
    "补贴",
    "残疾人证",
    "康复和辅助器具",
    "上学",
    "就业",
    "无障碍",
    "维权和法律帮助",
    "其他",
)
NAME_MAX = 20
# The longest text kept for a ticket (description, note, a staff reply's error): the form,
# the store and the bridge cut at the same place.
MAX_TEXT = 500


# Digits as people say them: Chinese numerals, and the radio forms (幺 1, 两 2, 拐 7, 勾 9, 洞 0).
_SPOKEN_DIGITS = {
    "零": "0",
    "〇": "0",
    "○": "0",
    "洞": "0",
    "一": "1",
    "幺": "1",
    "二": "2",
    "两": "2",
    "三": "3",
    "四": "4",
    "五": "5",
    "六": "6",
    "七": "7",
    "拐": "7",
    "八": "8",
    "九": "9",
    "勾": "9",
}
# A run of at least 7 digits (typed or said), with the spaces and dashes people put between groups.
_DIGIT = "[0-9" + "".join(_SPOKEN_DIGITS) + "]"
_DIGIT_RUN = re.compile(_DIGIT + r"(?:" + _DIGIT + r"|[\s\-－—]){5,}" + _DIGIT)
_MOBILE = re.compile(r"(?<!\d)(?:86)?(1[3-9]\d{9})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)(?:86)?0797(\d{7,8})(?!\d)")
_BETWEEN_DIGITS = re.compile(r"(?<=\d)[\s\-－—]+(?=\d)")


def spoken_digit_runs(text: str, replacement: str) -> str:
    """`text` with every run of digits said in Chinese numerals replaced (for anonymising)."""
    return _DIGIT_RUN.sub(lambda m: replacement if any(ch in _SPOKEN_DIGITS for ch in m.group(0)) else m.group(0), text)


def _spoken_to_digits(text: str) -> str:
    """Runs of digits said in Chinese ("一三八…", "幺三八…") written as digits; other text unchanged."""
    return _DIGIT_RUN.sub(lambda m: "".join(_SPOKEN_DIGITS.get(ch, ch) for ch in m.group(0)), text)


def parse_phone(text: str) -> str | None:
    """A Chinese mobile (11 digits, 1[3-9]…) or a 0797 landline found in `text`, typed in
    digits or said in Chinese numerals (一三八…, with 幺 for 1), inside a sentence too
    ("我电话13870001234"); None if there is none."""
    t = _spoken_to_digits(fold(text).replace("(", " ").replace(")", " ").replace("+", " "))
    for candidate in (_BETWEEN_DIGITS.sub("", t), t):  # "138 1234 5678" first, then as typed
        mobile = _MOBILE.search(candidate)
        landline = _LANDLINE.search(candidate)
        if mobile and (not landline or mobile.start() <= landline.start()):
            return mobile.group(1)
        if landline:
            return f"0797-{landline.group(1)}"
    return None


# What a resident on Telegram says to leave no phone (staff can answer in the chat).
NO_PHONE_WORDS = {
    "0",
    "零",
    "〇",
    "没有",
    "没",
    "无",
    "没有电话",
    "没电话",
    "没有手机",
    "不留",
    "不留了",
    "不想留",
    "不方便",
    "不方便留",
    "不用",
    "不用了",
    "跳过",
    "冇",
    "冇电话",
}


def reachable_in_chat(sender_id: str) -> bool:
    """Whether staff can write to this person where they are (a Telegram chat: `tg:…`)."""
    return sender_id.startswith("tg:")


def declines_phone(text: str) -> bool:
    return _bare(text) in NO_PHONE_WORDS


_PUNCT = re.compile(r"[\s,，.。!！?？、;；:：~～…\-—'\"“”‘’()（）]+")


def _bare(text: str) -> str:
    """The text folded, without spaces and punctuation."""
    return _PUNCT.sub("", fold(text))


def _made_of(text: str, words: set[str]) -> bool:
    """Whether `text` is nothing but `words` one after another ("好的提交", "对就是这样")."""
    if not text:
        return False
    ordered = sorted(words, key=len, reverse=True)
    i = 0
    while i < len(text):
        word = next((w for w in ordered if text.startswith(w, i)), None)
        if word is None:
            return False
        i += len(word)
    return True


# Saying yes to the summary: 0 (also 零, 〇) or a yes-word.
CONFIRM_WORDS = {
    "0",
    "零",
    "〇",
    "确认",
    "确定",
    "同意",
    "提交",
    "提交吧",
    "好",
    "好的",
    "好啊",
    "可以",
    "对",
    "对的",
    "是",
    "是的",
    "行",
    "嗯",
    "没问题",
    "没错",
    "就这样",
    "就是这样",
    "就这些",
    "发吧",
    "交吧",
}
# What says nothing about a case: an answer to a question nobody asked.
FILLER_WORDS = CONFIRM_WORDS - {"0", "零", "〇"} | {"哦", "啊", "嗯嗯", "没有了", "没了", "就这么多", "谢谢", "不知道"}


def parse_confirm(text: str) -> str | int | None:
    """The summary's answer: "yes" (0, 零, 好, 对, 提交, "好的 提交"…), a field number 1–5, or None."""
    bare = _bare(text)
    if _made_of(bare, CONFIRM_WORDS):
        return "yes"
    choice = digit_choice(text)
    return choice if choice is not None and 1 <= choice <= 5 else None


def is_filler(text: str) -> bool:
    """ "对 就是这样", "好的", "嗯": words that describe nothing."""
    return _made_of(_bare(text), FILLER_WORDS)


YES_WORDS = {"好", "好的", "好啊", "要", "要的", "要啊", "对", "对的", "是", "是的", "可以", "行", "嗯", "需要"}
YES_WORDS |= {"同意", "确认"}
YES_WORDS |= {"转", "转吧", "转给他们", "转给工作人员", "发", "发吧", "发给工作人员", "麻烦了", "麻烦你了"}
NO_WORDS = {"不", "不用", "不用了", "不要", "不要了", "不需要", "不是", "不转", "不发", "别", "别转", "算了", "不了"}
NO_WORDS |= {"不行", "没有", "唔使", "不必"}


def parse_yes_no(text: str) -> bool | None:
    """A short answer to "1 要 2 不用": True for 1 / 一 / 好 / 要 / 对…, False for 2 / 二 / 不用…"""
    choice = digit_choice(text)
    if choice in (1, 2):
        return choice == 1
    bare = _bare(text)
    if _made_of(bare, YES_WORDS):
        return True
    if bare in NO_WORDS or _made_of(bare, NO_WORDS):
        return False
    return None


# A question, not a name or an answer: question marks and question words.
_QUESTION = re.compile(
    r"[?？]|怎么|怎样|怎么样|什么|多少|哪里|哪儿|哪个|哪些|几时|几点|为什么|为啥|咋|能不能|可不可以|是不是|有没有|"
    r"要不要|会不会|行不行|好不好|[吗么嘛呢]$"
)


def looks_like_question(text: str) -> bool:
    """ "护理补贴怎么申请", "你们是哪里的？": a question rather than an answer."""
    t = fold(text).rstrip("。.!！ ")
    return bool(_QUESTION.search(t))


def asks_back(text: str) -> bool:
    """A staff reply that asks the resident something (it ends in ？ or ?)."""
    return fold(text).rstrip(" )）\"”'’").endswith(("?", "？"))


def parse_township(text: str) -> str | None:
    """A digit 1–15, a full name, a short name or a known typo → the township's name."""
    choice = digit_choice(text)
    if choice is not None:
        return TOWNSHIPS[choice - 1] if 1 <= choice <= len(TOWNSHIPS) else None
    t = fold(text).replace(" ", "")
    for name in TOWNSHIPS:
        if name in t or name[:-1] in t:
            return name
    for alias, name in TOWNSHIP_ALIASES.items():
        if alias in t:
            return name
    return None


def parse_category(text: str) -> str | None:
    choice = digit_choice(text)
    if choice is not None:
        return CATEGORIES[choice - 1] if 1 <= choice <= len(CATEGORIES) else None
    t = fold(text)
    return next((c for c in CATEGORIES if c in t), None)


def parse_name(text: str) -> str | None:
    """A short form of address; refuses digits-only, links, questions and very long text."""
    t = re.sub(r"\s+", " ", fold(text))
    t = re.sub(r"^(我叫|我是|叫我|称呼我|我姓)", "", t).strip(" ，,。.")
    if not t or len(t) > NAME_MAX or t.isdigit() or "http" in t.lower():
        return None
    if not any(ch.isalpha() for ch in t) or looks_like_question(t):
        return None
    return t


# The words that say "add this to my request" ("我还要补充：…", "这句话也告诉工作人员：…"), and
# what is left of a message that is only that ("我还要补充一点"): then the note is asked for.
_NOTE_LEAD = re.compile(
    r"^(?:(?:我|俺)?(?:还|再|也|想|要|还要|还想|再来|刚才|顺便)*"
    r"(?:补充|补一下|补一句|补几句|补个|补|加一句|加一条|加一点|加个|添一句|更正|改一下)"
    r"(?:一下|一点|一句|几句|说明|个情况|一个情况|情况|内容)*"
    r"|(?:这句话|这个)?(?:也)?(?:麻烦|请)?(?:告诉|转告|跟|和|给)(?:一下)?(?:处理的|那个|县残联的?)?"
    r"(?:工作人员|处理的人)(?:说|讲)?(?:一下|一声|一句)?)"
)
_NOTE_EMPTY = re.compile(
    r"^(?:我|还|再|也|想|要|有|话|点|一下|一点|一句|几句|个|一个|情况|内容|说明|材料|东西|事|事情|"
    r"跟|和|给|对|工作人员|说|讲|告诉|补充|的|吧|呢|啊|了)*$"
)


def note_content(text: str) -> str:
    """What a resident wants added to their request, without the words that ask to add it:
    "我还要补充：他的银行卡换过了" → "他的银行卡换过了"; "" when the message is only the asking
    ("我还要补充一点", "补充一下")."""
    t = " ".join(fold(text).split())
    number = NUMBER_IN_TEXT.search(t)
    if number and number.start() == 0:
        t = t[number.end() :].strip()
    rest = _NOTE_LEAD.sub("", t, count=1).lstrip(" ,，:：。.、;；-—")
    if _NOTE_EMPTY.match(_bare(rest)):
        return ""
    return rest if rest and rest != t else t
