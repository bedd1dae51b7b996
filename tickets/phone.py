"""Phone numbers as residents give them: typed or said in Chinese numerals (parse_phone,
spoken_digit_runs), the words that leave none (NO_PHONE_WORDS), and who staff can reach
in the chat instead."""

from __future__ import annotations

import re

from common.choices import fold
from tickets.replies import bare_text

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


# …and the sentences that say so ("冇电话 你在这里回我就行", "不方便留 有事在这里讲"), with no digit in them.
_NO_PHONE = re.compile(
    r"^(?:我|屋里)?(?:冇|没有?|没得|无|不方便|不想|不愿意|不留|不给|唔方便|唔想)(?:留|给)?(?:电话|手机|号码)?|"
    r"(?:在这里|就在这|这里|在这)(?:回|讲|说|聊|联系|答复)"
)


def declines_phone(text: str) -> bool:
    """Does the resident say they leave no phone (a word of NO_PHONE_WORDS, or a sentence)?"""
    bare = bare_text(text)
    return bare in NO_PHONE_WORDS or (not re.search(r"\d", bare) and bool(_NO_PHONE.search(bare)))
