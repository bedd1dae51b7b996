"""What a ticket holds (townships, categories, a name, MAX_TEXT), and how a resident's typed
answers become those fields (the help form). The phone is read in tickets/phone.py, short
replies (yes, no, 好的 提交) in tickets/replies.py."""

from __future__ import annotations

import re

from common.choices import digit_choice, fold
from tickets.replies import looks_like_question

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
