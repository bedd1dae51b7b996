"""Turn an answer written for the screen into text espeak-ng's Mandarin voice reads well.

espeak-ng 1.51 (`sit/cmn-latn-pinyin`) reads Chinese characters correctly but gets most
written forms wrong: it drops the point of `1.5`, reads `105` as 一百五 and `15000` as
十五千, says "percent", "plus" and "slash" in English, reads `2025年` as a number, and reads
Latin words as pinyin. `to_speakable` rewrites all of that into Chinese characters (and
spaced capital letters, which the voice spells with Chinese-style letter names), and drops
what cannot be spoken usefully: URLs, e-mail addresses, Markdown, emoji.

Number reading conventions used here (the tests pin them):
- 10 → 十, 110 → 一百一十, 105 → 一百零五, 1005 → 一千零五, 10005 → 一万零五;
- 2 as the multiplier of 千/万/亿 is 两 (2000 → 两千, 20000 → 两万), of 百 and 十 it is 二
  (200 → 二百, 20 → 二十); a lone 2 before a measure word is 两 (2个 → 两个);
- years, phone numbers, ticket numbers and long digit strings are read digit by digit;
  in phone and ticket numbers 1 is 幺, in years it is 一 (二零二一年).

Pure function, no I/O.
"""

from __future__ import annotations

import re
import unicodedata

__all__ = ["digits_to_chinese", "int_to_chinese", "number_to_chinese", "to_speakable"]

_DIGITS = "零一二三四五六七八九"
_UNITS = ("", "十", "百", "千")
_SECTIONS = ("", "万", "亿", "万亿")
_SENTENCE_END = "。！？；"
_CN_NUM = "〇零一二三四五六七八九十百千两"

URL_SPOKEN = "网址见文字消息"
EMAIL_SPOKEN = "邮箱地址见文字消息"


# --------------------------------------------------------------------------- numbers


def _section(n: int) -> str:
    """Read 1..9999 (no leading 零)."""
    out: list[str] = []
    zero = False
    for pos in (3, 2, 1, 0):
        d = n // 10**pos % 10
        if d == 0:
            zero = bool(out)
            continue
        if zero:
            out.append("零")
            zero = False
        digit = "两" if d == 2 and pos == 3 else _DIGITS[d]
        out.append(digit + _UNITS[pos])
    return "".join(out)


def int_to_chinese(n: int) -> str:
    """Read a non-negative integer below 10**16 the way it is said (105 → 一百零五)."""
    if n < 0:
        return "负" + int_to_chinese(-n)
    if n == 0:
        return "零"
    if n >= 10**16:
        return digits_to_chinese(str(n), yao=False)
    groups: list[int] = []
    while n:
        groups.append(n % 10000)
        n //= 10000
    out = ""
    pending_zero = False
    for i in reversed(range(len(groups))):
        g = groups[i]
        if g == 0:
            pending_zero = bool(out)
            continue
        if out and (pending_zero or g < 1000):
            out += "零"
        text = "两" if (i > 0 and g == 2) else _section(g)
        out += text + _SECTIONS[i]
        pending_zero = False
    if out.startswith("一十"):
        out = out[1:]
    return out


def digits_to_chinese(digits: str, *, yao: bool = True) -> str:
    """Read a digit string one digit at a time; `yao` reads 1 as 幺 (phones, codes)."""
    table = _DIGITS.replace("一", "幺") if yao else _DIGITS
    return "".join(table[int(c)] if c.isdigit() else c for c in digits)


def number_to_chinese(token: str) -> str:
    """Read a written number: `80`, `1.5`, `0.25`, `007`, `3.6.21`."""
    parts = token.split(".")
    if len(parts) > 2:
        return "点".join(number_to_chinese(p) for p in parts if p)
    whole = parts[0]
    if len(whole) > 1 and whole.startswith("0") or len(whole) > 16:
        head = digits_to_chinese(whole, yao=False)
    else:
        head = int_to_chinese(int(whole or "0"))
    if len(parts) == 2 and parts[1]:
        return head + "点" + digits_to_chinese(parts[1], yao=False)
    return head


def _year(digits: str) -> str:
    return digits_to_chinese(digits, yao=False)


_NUM = r"\d+(?:\.\d+)?"
_DASH = r"[-‐‑‒–—―−~～]"
_RANGE = rf"(?:{_DASH}+|至|到)"


# --------------------------------------------------------------------------- helpers

_FULLWIDTH = {
    **{0xFF10 + i: ord("0") + i for i in range(10)},
    **{0xFF21 + i: ord("A") + i for i in range(26)},
    **{0xFF41 + i: ord("a") + i for i in range(26)},
    ord("％"): "%",
    ord("＋"): "+",
    ord("－"): "-",
    ord("／"): "/",
    ord("．"): ".",
    ord("＠"): "@",
    ord("＃"): "#",
    ord("＊"): "*",
    ord("＿"): "_",
    ord("｀"): "`",
    ord("＞"): ">",
    ord("＜"): "<",
    ord("｜"): "|",
    ord("＝"): "=",
    ord("＆"): "&",
    ord("［"): "[",
    ord("］"): "]",
    ord("\u00a0"): " ",
    ord("\u3000"): " ",
    ord("\t"): " ",
    ord("\u200b"): "",
}

_CIRCLED = {
    **{0x2460 + i: i + 1 for i in range(20)},  # ① … ⑳
    **{0x2474 + i: i + 1 for i in range(20)},  # ⑴ … ⒇
    **{0x2488 + i: i + 1 for i in range(20)},  # ⒈ … ⒛
    **{0x2776 + i: i + 1 for i in range(10)},  # ❶ … ❿
}

_KNOWN_WORDS = {
    "app": "A P P",
    "wifi": "无线网络",
    "wi-fi": "无线网络",
    "telegram": "电报",
    "email": "邮箱",
    "e-mail": "邮箱",
    "ok": "O K",
    "covid-19": "新冠",
    "pm2.5": "P M 二点五",
}

_MEASURE_TWO = (
    "个|项|次|人|位|名|种|件|张|本|条|家|户|所|天|岁|年|周|星期|小时|分钟|遍|元|块|斤|"
    "公斤|倍|类|万|千|亿|套|台|辆|间|份|批|门|趟|声|句|双|对|点"
)

_UNIT_WORDS = "元|块|角|万|千|百|亿|个|人|名|户|项|次|岁|所|家|位|件|张|条|本|天|年|月|日|号|%|‰"


def _ordinal(n: int) -> str:
    return "第" + int_to_chinese(n)


def _cn_numeral_value(text: str) -> int | None:
    """Value of a small Chinese numeral (一 … 九十九), or None."""
    if not text or any(c not in "一二三四五六七八九十两" for c in text):
        return None
    vals = {c: i for i, c in enumerate(_DIGITS)}
    vals["两"] = 2
    if "十" in text:
        tens, _, ones = text.partition("十")
        t = vals.get(tens, 0) if tens else 1
        o = vals.get(ones, 0) if ones else 0
        return t * 10 + o
    if len(text) == 1:
        return vals.get(text)
    return None


# --------------------------------------------------------------------------- stages


def _prepare(text: str) -> str:
    text = text.replace("\r\n", "\n").replace("\r", "\n").translate(_FULLWIDTH)
    return "".join(f"，第{int_to_chinese(_CIRCLED[ord(c)])}，" if ord(c) in _CIRCLED else c for c in text)


def _markdown(text: str) -> str:
    text = re.sub(r"```.*?(```|$)", "\n", text, flags=re.DOTALL)
    text = re.sub(r"!\[[^\]]*\]\([^)]*\)", "", text)
    text = re.sub(r"\[([^\]]*)\]\(([^)]*)\)", lambda m: m.group(1) or m.group(2), text)
    lines = []
    for line in text.split("\n"):
        if re.fullmatch(r"\s*([-*_=])(\s*\1){2,}\s*", line):  # horizontal rule
            continue
        if re.fullmatch(r"\s*\|?[\s:|-]*-[\s:|-]*\|?\s*", line) and "|" in line:  # table rule
            continue
        line = re.sub(r"^\s*(?:>\s*)+", "", line)  # blockquote
        line = re.sub(r"^\s*#{1,6}\s*", "", line)  # heading
        line = re.sub(r"^\s*(?:[-*+•·●○◦■□◆◇▪▫►▶➤✓✔]\s+|[•·●○◦■□◆◇▪▫►▶➤]\s*)", "", line)
        if "|" in line:
            line = line.strip().strip("|").replace("|", "，")
        lines.append(line)
    text = "\n".join(lines)
    text = text.replace("~~", "")
    return re.sub(r"[*_`#>]", "", text)


def _urls(text: str) -> str:
    text = re.sub(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+", EMAIL_SPOKEN, text)
    stop = r"[^\s，。！？；、（）()【】<>\"“”‘’《》]"
    text = re.sub(rf"(?:https?://|ftp://|www\.){stop}+", URL_SPOKEN, text, flags=re.IGNORECASE)
    text = re.sub(
        rf"(?<![A-Za-z0-9.@])(?:[A-Za-z0-9-]+\.)+(?:cn|com|net|org|gov|edu|info|io|top)"
        rf"(?![A-Za-z0-9])(?:[/:]{stop}*)?",
        URL_SPOKEN,
        text,
        flags=re.IGNORECASE,
    )
    # one mention is enough when several links stand together
    text = re.sub(rf"({URL_SPOKEN}|{EMAIL_SPOKEN})(?:[\s，、；;,和或]*\1)+", r"\1", text)
    return re.sub(rf"\s*({URL_SPOKEN}|{EMAIL_SPOKEN})\s*", r"，\1，", text)


def _symbols(text: str) -> str:
    text = re.sub(r"°\s*C|℃", "摄氏度", text)
    text = re.sub(r"(?<=\d)\s*(?:㎡|m²|m2|平米)(?![A-Za-z0-9])", "平方米", text)
    text = text.replace("㎡", "平方米")
    for unit, word in (
        ("km", "公里"),
        ("kg", "公斤"),
        ("cm", "厘米"),
        ("mm", "毫米"),
        ("m", "米"),
    ):
        text = re.sub(rf"(?<=\d)\s*{unit}(?![A-Za-z])", word, text)
    text = text.replace("°", "度").replace("≥", "大于等于").replace("≤", "小于等于")
    text = re.sub(r"(?<=\d)\s*×\s*(?=\d)", "乘", text)
    text = text.replace("±", "正负").replace("&", "和").replace("…", "，")
    out = []
    for c in text:
        cat = unicodedata.category(c)
        if cat in ("So", "Sk", "Cs", "Co") or c in "\ufe0e\ufe0f\u200d\u20e3":
            continue  # emoji, pictographs, modifiers
        if cat == "Cf" or (cat == "Cc" and c != "\n"):
            continue
        out.append(c)
    return "".join(out)


def _doc_numbers(text: str) -> str:
    # 国发〔2015〕52号 → 国发二零一五年五十二号
    text = re.sub(
        r"[〔［\[（(]\s*((?:1[89]|20)\d{2})\s*[〕］\]）)]\s*第?\s*(\d+)\s*号",
        lambda m: _year(m.group(1)) + "年" + int_to_chinese(int(m.group(2))) + "号",
        text,
    )
    return re.sub(r"〔\s*((?:1[89]|20)\d{2})\s*〕", lambda m: _year(m.group(1)) + "年", text)


def _brackets(text: str) -> str:
    text = _doc_numbers(text)

    def numeral(m: re.Match[str]) -> str:
        inner = m.group(2)
        value = int(inner) if inner.isdigit() else _cn_numeral_value(inner)
        if value is None:
            return m.group(0)
        before = m.group(1)
        if before and not re.fullmatch(r"[\s：:；;，,。、！？!?\n]", before):
            return before + _ordinal(value) + "条"  # 第五部分（一） → 第五部分第一条
        spoken = int_to_chinese(value) if not inner.isdigit() else _ordinal(value)
        return before + spoken + "，"  # list marker: （一） → 一，  (1) → 第一，

    text = re.sub(
        r"(^|.)[（(]\s*(\d{1,2}|[一二三四五六七八九十]{1,3})\s*[）)]",
        numeral,
        text,
        flags=re.MULTILINE,
    )
    # 【官方】 style tags are dropped; a long 【…】 is kept as a heading
    text = re.sub(
        r"【([^【】]*)】",
        lambda m: "" if len(m.group(1)) <= 6 else f"{m.group(1)}，",
        text,
    )
    # asides in parentheses become pauses; innermost first
    pattern = re.compile(r"[（(\[]([^（）()\[\]]*)[）)\]]")
    for _ in range(5):
        new = pattern.sub(lambda m: f"，{m.group(1).strip()}，" if m.group(1).strip() else "", text)
        if new == text:
            break
        text = new
    return re.sub(r"[〔〕［］「」『』〈〉《》“”‘’\"]", "", text)


def _list_markers(text: str) -> str:
    lines = []
    for line in text.split("\n"):
        line = re.sub(
            r"^\s*(\d{1,2})\s*(?:[.．](?!\d)|[、）)])\s*",
            lambda m: _ordinal(int(m.group(1))) + "，",
            line,
        )
        # markers after a colon or semicolon: 材料：1、身份证；2、户口本
        line = re.sub(
            r"(?<=[：:；;])\s*(\d{1,2})\s*(?:[.．](?!\d)|[、）)])\s*",
            lambda m: _ordinal(int(m.group(1))) + "，",
            line,
        )
        lines.append(line)
    return "\n".join(lines)


def _source(text: str) -> str:
    return re.sub(r"(来源|出处|依据)\s*[：:]\s*", r"\1是", text)


def _spell(symbols: str) -> str:
    """Spell a code: letters by name (espeak's own letter names), digits with 幺."""
    out = []
    for c in symbols.upper():
        if c.isdigit():
            out.append(digits_to_chinese(c))
        elif c.isalpha():
            out.append(c)
        elif c in "-_/":
            out.append("杠")
    return "、".join(out)


def _codes(text: str) -> str:
    """Known Latin words, then ticket numbers and other letter+digit codes."""

    def known(m: re.Match[str]) -> str:
        return " " + _KNOWN_WORDS[m.group(0).lower()] + " "

    words = sorted(_KNOWN_WORDS, key=len, reverse=True)
    text = re.sub(
        r"(?<![A-Za-z0-9])(?:" + "|".join(re.escape(w) for w in words) + r")(?![A-Za-z0-9])",
        known,
        text,
        flags=re.IGNORECASE,
    )

    def code(m: re.Match[str]) -> str:
        token = m.group(0)
        plain = token.replace("-", "")
        if "-" in token or len(plain) >= 4:
            return " " + _spell(token) + " "  # ticket number: K7M-42Q
        # short mixed tokens (5G, B2): letters spelled, digits left to the number reader
        return " " + " ".join(re.findall(r"\d+|[A-Z]", token)) + " "

    has_both = r"(?=[A-Za-z0-9-]*[A-Za-z])(?=[A-Za-z0-9-]*\d)"
    # capitals and digits (K7M-42Q, XW-7K3P9, 5G), or any case when hyphenated (k7m-42q)
    text = re.sub(
        rf"(?<![A-Za-z0-9.]){has_both}(?:[A-Z0-9]+(?:-[A-Z0-9]+)*|[A-Za-z0-9]+(?:-[A-Za-z0-9]+)+)"
        r"(?![A-Za-z0-9])",
        code,
        text,
    )
    return text


def _latin(text: str) -> str:
    """Spell short capital acronyms (CT → C T); drop other Latin words."""

    def word(m: re.Match[str]) -> str:
        w = m.group(0)
        if w.isupper() and len(w) <= 5:
            return " " + " ".join(w) + " "  # acronym: CT → C T
        return " "  # other Latin words are not read (the voice would read them as pinyin)

    return re.sub(r"[A-Za-z]+(?:['’-][A-Za-z]+)*", word, text)


def _phone_digits(raw: str) -> str:
    """Digits of a phone number with 幺 for 1, groups separated by a short pause."""
    groups = [g for g in re.split(r"[\s\-‐–—]+", raw.strip()) if g]
    if len(groups) == 1:
        d = groups[0]
        if len(d) == 11 and d.startswith("1"):
            groups = [d[:3], d[3:7], d[7:]]
    return "，".join(digits_to_chinese(g) for g in groups)


def _numbers(text: str) -> str:
    text = re.sub(r"(?<=\d),(?=\d{3}(?!\d))", "", text)  # 15,000 → 15000

    # phone numbers announced as such, then the usual phone shapes
    text = re.sub(
        r"(电话|热线|拨打|致电|号码|手机号|拨)(\s*(?:是|为|[：:])?\s*)(\+?\d[\d\s\-]*\d)",
        lambda m: m.group(1) + m.group(2) + _phone_digits(m.group(3).lstrip("+")),
        text,
    )
    text = re.sub(r"(?<![\d.])1[3-9]\d{9}(?![\d.])", lambda m: _phone_digits(m.group(0)), text)
    text = re.sub(
        r"(?<![\d.])(?:0\d{2,3}[\s\-]?\d{7,8}|[48]00[\s\-]?\d{3}[\s\-]?\d{4})(?![\d.])",
        lambda m: _phone_digits(m.group(0)),
        text,
    )
    text = re.sub(
        rf"(?<![\d.])(?:123\d{{2}}|\d{{7,}})(?![\d.])(?!\s*(?:{_UNIT_WORDS}|多|余))",
        lambda m: digits_to_chinese(m.group(0)),
        text,
    )

    # dates and times
    def ymd(m: re.Match[str]) -> str:
        y, mo, d = m.group(1), int(m.group(2)), int(m.group(3))
        if not (1 <= mo <= 12 and 1 <= d <= 31):
            return m.group(0)
        return f"{_year(y)}年{int_to_chinese(mo)}月{int_to_chinese(d)}日"

    text = re.sub(r"(?<![\d.])((?:19|20)\d{2})[-/.](\d{1,2})[-/.](\d{1,2})(?![\d.])", ymd, text)
    text = re.sub(
        r"(?<![\d.])((?:19|20)\d{2})[-/.](0[1-9]|1[0-2])(?![\d年])",
        lambda m: f"{_year(m.group(1))}年{int_to_chinese(int(m.group(2)))}月",
        text,
    )

    def hm(h: str, mi: str) -> str:
        minute = int(mi)
        if minute == 0:
            return int_to_chinese(int(h)) + "点"
        spoken = int_to_chinese(minute) if minute >= 10 else "零" + int_to_chinese(minute)
        return int_to_chinese(int(h)) + "点" + spoken + "分"

    time = r"([01]?\d|2[0-3])[:：]([0-5]\d)(?![\d:：])"
    text = re.sub(
        rf"(?<![\d:：]){time}\s*{_RANGE}\s*{time}",
        lambda m: hm(m.group(1), m.group(2)) + "到" + hm(m.group(3), m.group(4)),
        text,
    )
    text = re.sub(rf"(?<![\d:：]){time}", lambda m: hm(m.group(1), m.group(2)), text)

    # years: 2022—2024年 → 二零二二年到二零二四年; 2025年 → 二零二五年
    text = re.sub(
        rf"(?<![\d.])([12]\d{{3}})\s*年?\s*{_RANGE}\s*([12]\d{{3}})\s*年",
        lambda m: f"{_year(m.group(1))}年到{_year(m.group(2))}年",
        text,
    )

    def bare_year_range(m: re.Match[str]) -> str:
        a, b = int(m.group(1)), int(m.group(2))
        if 1949 <= a < b <= 2099 and b - a <= 30:
            return f"{_year(m.group(1))}年到{_year(m.group(2))}年"
        return m.group(0)

    text = re.sub(
        rf"(?<![\d.])([12]\d{{3}})\s*{_DASH}+\s*([12]\d{{3}})(?![\d.])(?!\s*(?:{_UNIT_WORDS}|多|余))",
        bare_year_range,
        text,
    )
    text = re.sub(r"(?<![\d.])([12]\d{3})(?=\s*年)", lambda m: _year(m.group(1)), text)

    # percentages
    text = re.sub(
        rf"({_NUM})\s*%?\s*{_RANGE}\s*({_NUM})\s*%",
        lambda m: f"百分之{number_to_chinese(m.group(1))}到百分之{number_to_chinese(m.group(2))}",
        text,
    )
    text = re.sub(rf"({_NUM})\s*%", lambda m: "百分之" + number_to_chinese(m.group(1)), text)
    text = re.sub(rf"({_NUM})\s*‰", lambda m: "千分之" + number_to_chinese(m.group(1)), text)

    # money: ¥80 → 八十元, 1.50元 → 一点五元
    text = re.sub(rf"[¥￥]\s*({_NUM})(\s*元)?", r"\1元", text)
    text = re.sub(rf"(?:US)?\$\s*({_NUM})", r"\1美元", text)
    text = re.sub(
        r"(\d+)\.(\d*?)0+(?=\s*(?:元|美元))",
        lambda m: m.group(1) + ("." + m.group(2) if m.group(2) else ""),
        text,
    )
    text = re.sub(r"(元|块)\s*/\s*(?=[\u4e00-\u9fff])", r"\1每", text)  # 80元/月 → 八十元每月

    # fractions, arithmetic, ranges, signs
    text = re.sub(
        r"(?<![\d/.])(\d+)\s*/\s*(\d+)(?![\d/.])",
        lambda m: int_to_chinese(int(m.group(2))) + "分之" + int_to_chinese(int(m.group(1))),
        text,
    )
    text = re.sub(r"(?<=\d)\s*\+\s*(?=\d)", "加", text)
    text = re.sub(r"(?<=\d)\s*=\s*(?=\d)", "等于", text)
    text = re.sub(rf"({_NUM})\s*(?:{_DASH}+|至)\s*(?=\d)", r"\1到", text)
    text = re.sub(r"(?<![\dA-Za-z])[-−]\s*(?=\d)", "负", text)

    # 第1、2项 → 第一、二项
    text = re.sub(
        r"第(\d+)((?:、\d+)+)",
        lambda m: "第" + "、".join(int_to_chinese(int(x)) for x in [m.group(1), *m.group(2).split("、")[1:]]),
        text,
    )
    # a lone 2 before a measure word is 两 (2个 → 两个), not after 第
    text = re.sub(rf"(?<![\d.第])2(?![\d.])(?=\s*(?:{_MEASURE_TWO}))", "两", text)

    return re.sub(r"\d+(?:\.\d+)*", lambda m: number_to_chinese(m.group(0)), text)


_ASCII_PUNCT = str.maketrans({",": "，", ";": "；", "!": "！", "?": "？", ":": "：", "/": "、"})
_PUNCT = "，、：；。！？"


def _collapse(run: str) -> str:
    for strong in "。！？":
        if strong in run:
            return strong
    for mark in "；：":
        if mark in run:
            return mark
    return "，" if "，" in run else run[0]


def _tidy(text: str) -> str:
    text = text.translate(_ASCII_PUNCT)
    text = text.replace(".", "。")
    text = re.sub(rf"{_DASH}+|[+=<>@^{{}}\\]", "，", text)
    # arrows and other maths signs left over carry no words
    text = "".join("，" if unicodedata.category(c) == "Sm" else c for c in text)
    text = re.sub(r"[\"'’‘%$¥￥]", "", text)
    lines = []
    for line in text.split("\n"):
        line = re.sub(r" {2,}", " ", line).strip()
        line = re.sub(rf"\s*([{_PUNCT}])\s*", r"\1", line)
        line = re.sub(r"(?<=[\u4e00-\u9fff]) (?=[\u4e00-\u9fff])", "", line)
        line = re.sub(rf"[{_PUNCT}]{{2,}}", lambda m: _collapse(m.group(0)), line)
        line = re.sub(rf"^[{_PUNCT}\s]+", "", line)
        line = re.sub(r"[，、：\s]+$", "", line)
        if re.search(r"[\u4e00-\u9fffA-Za-z]", line):
            lines.append(line)
    return "\n".join(lines)


def to_speakable(text: str) -> str:
    """Rewrite `text` so espeak-ng's Mandarin voice reads it naturally ("" if nothing to say)."""
    if not text:
        return ""
    text = _prepare(text)
    text = _markdown(text)
    text = _urls(text)
    text = _codes(text)
    text = _symbols(text)
    text = _source(text)
    text = _brackets(text)
    text = _list_markers(text)
    text = _latin(text)
    text = _numbers(text)
    return _tidy(text)
