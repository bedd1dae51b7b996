"""How residents' short replies are read: yes to the summary (CONFIRM_WORDS), 1 要 / 2 不用
(YES_WORDS, NO_WORDS), words that say nothing (FILLER_WORDS), a question rather than an
answer, a staff reply that asks back, and what a note adds ("我还要补充：…")."""

from __future__ import annotations

import re

from common.choices import digit_choice, fold
from common.script import simplified

_PUNCT = re.compile(r"[\s,，.。!！?？、;；:：~～…\-—'\"“”‘’()（）]+")


def bare_text(text: str) -> str:
    """The text folded (simplified characters too: 確認 → 确认), without spaces and punctuation."""
    return _PUNCT.sub("", simplified(fold(text)).lower())


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
    # everyday and Hakka ways of saying it is right ("冇错 提交", "都对", "要得")
    "冇错",
    "没有错",
    "冇问题",
    "都",
    "全",
    "都对",
    "对了",
    "对头",
    "系",
    "系的",
    "好嘞",
    "好咧",
    "要得",
    "ok",
    "嗯嗯",
    "了",
    "啦",
    "吧",
}
# What says nothing about a case: an answer to a question nobody asked.
FILLER_WORDS = CONFIRM_WORDS - {"0", "零", "〇"} | {"哦", "啊", "嗯嗯", "没有了", "没了", "就这么多", "谢谢", "不知道"}


# Politeness after an answer ("確認，謝謝", "好的 麻烦了"): the answer is what comes before it.
_THANKS_TAIL = re.compile(r"(?:谢谢|多谢|谢了|麻烦了|麻烦你了|麻烦你们了|辛苦了|辛苦你们了)+(?:你|你们|啦|了)?$")


def parse_confirm(text: str) -> str | int | None:
    """The summary's answer: "yes" (0, 零, 好, 对, 提交, "好的 提交", "确认 谢谢"…), a field number 1–5, or None."""
    bare = bare_text(text)
    bare = _THANKS_TAIL.sub("", bare) or bare
    if _made_of(bare, CONFIRM_WORDS):
        return "yes"
    choice = digit_choice(text)
    return choice if choice is not None and 1 <= choice <= 5 else None


def is_filler(text: str) -> bool:
    """ "对 就是这样", "好的", "嗯": words that describe nothing."""
    return _made_of(bare_text(text), FILLER_WORDS)


YES_WORDS = {"好", "好的", "好啊", "要", "要的", "要啊", "对", "对的", "是", "是的", "可以", "行", "嗯", "需要"}
YES_WORDS |= {"同意", "确认", "冇问题", "没问题", "好嘞", "要得", "系", "ok"}
YES_WORDS |= {"转", "转吧", "转给他们", "转给工作人员", "发", "发吧", "发给工作人员", "麻烦了", "麻烦你了"}
NO_WORDS = {"不", "不用", "不用了", "不要", "不要了", "不需要", "不是", "不转", "不发", "别", "别转", "算了", "不了"}
NO_WORDS |= {"不行", "没有", "唔使", "不必"}


def parse_yes_no(text: str) -> bool | None:
    """A short answer to "1 要 2 不用": True for 1 / 一 / 好 / 要 / 对…, False for 2 / 二 / 不用…"""
    choice = digit_choice(text)
    if choice in (1, 2):
        return choice == 1
    bare = bare_text(text)
    if _made_of(bare, YES_WORDS):
        return True
    if bare in NO_WORDS or _made_of(bare, NO_WORDS):
        return False
    return None


# A question, not a name or an answer: question marks and question words.
_QUESTION = re.compile(
    r"[?？]|怎么|几多|么子|有冇|咋个|怎样|怎么样|什么|多少|多久|多长时间|几天|几个月|哪里|哪儿|哪个|哪些|几时|几点|为什么|为啥|咋|"
    r"能不能|可不可以|是不是|有没有|"
    r"要不要|会不会|行不行|好不好|[吗么嘛呢]$"
)


def looks_like_question(text: str) -> bool:
    """ "护理补贴怎么申请", "你们是哪里的？": a question rather than an answer."""
    t = fold(text).rstrip("。.!！ ")
    return bool(_QUESTION.search(t))


def asks_back(text: str) -> bool:
    """A staff reply that asks the resident something (it ends in ？ or ?)."""
    return fold(text).rstrip(" )）\"”'’").endswith(("?", "？"))


NUMBER_IN_TEXT = re.compile(r"(?i)xw[\s\-]*[0-9a-z]{5}")
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
    if _NOTE_EMPTY.match(bare_text(rest)):
        return ""
    return rest if rest and rest != t else t
