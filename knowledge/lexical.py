"""The lexical ranker: jieba words, character pairs and toneless pinyin pairs, idf-weighted.

Pinyin pairs make homophone typos (补帖 / 补贴, 残疾正 / 残疾证) match; character pairs make
unknown words and jieba's mistakes match; traditional characters are folded to simplified.
The score of a document is the idf-weighted share of the query's tokens it contains (0–1),
which is comparable across queries, so thresholds learned on one set hold on another.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path

import jieba
from pypinyin import lazy_pinyin

from common.script import simplified

USER_DICT = Path(__file__).resolve().parent.parent / "data" / "jieba" / "userdict.txt"
_HAN = re.compile(r"[\u4e00-\u9fff]")
_KEEP = re.compile(r"[\u4e00-\u9fffA-Za-z0-9]+")
# Words that say nothing about the topic ("我想问一下这个怎么办").
STOPWORDS = frozenset(
    """
    的 了 吗 呢 吧 啊 呀 哦 嘛 么 我 你 他 她 它 我们 你们 他们 咱 俺 这 那 这个 那个 什么 啥
    怎么 咋 咋办 怎么办 怎样 如何 是 有 没有 要 想 能 能不能 可以 可不可以 会 就 都 也 还 在 和 跟
    与 或 一下 请问 问 问一下 知道 谢谢 您好 你好 一个 个 些 里 上 下 去 来 给 让 被 把 说 讲 听说
    现在 今年 一 下子 多 少 很 太 好 不 没 冇
    """.split()
)

_jieba_ready = False


def _ensure_jieba() -> None:
    global _jieba_ready
    if not _jieba_ready:
        jieba.setLogLevel(60)
        if USER_DICT.is_file():
            jieba.load_userdict(str(USER_DICT))
        _jieba_ready = True


# Cantonese words that relatives in 香港 or 广东 type (Hakka shares some: 佢, 係, 唔), said in
# Mandarin before anything else reads the message; 冇 stays (the training data has it).
DIALECT = (
    ("呢啲", "这些"), ("嗰啲", "那些"), ("乜嘢", "什么"), ("點樣", "怎样"), ("点样", "怎样"),
    ("點解", "为什么"), ("点解", "为什么"), ("屋企", "家里"), ("佢哋", "他们"), ("哋", "们"),
    ("係", "是"), ("唔该", "谢谢"), ("唔該", "谢谢"), ("唔", "不"), ("咗", "了"), ("嘅", "的"),
    ("佢", "他"), ("啲", "些"),
    ("嘢", "东西"), ("喺", "在"), ("畀", "给"), ("睇", "看"),
)  # fmt: skip


def plain(text: str) -> str:
    """`text` in simplified Mandarin characters, spacing and punctuation kept (what the
    understanding step reads: the embedding model, the n-grams and the danger words)."""
    for word, mandarin in DIALECT:
        text = text.replace(word, mandarin)
    return simplified(text)


def normalise(text: str) -> str:
    """Fold traditional characters, full-width forms and case; keep only words."""
    text = simplified(text or "")
    text = text.translate({c: c - 0xFEE0 for c in range(0xFF01, 0xFF5F)}).lower()
    return " ".join(_KEEP.findall(text))


@lru_cache(maxsize=4096)
def _pinyin(chunk: str) -> tuple[str, ...]:
    return tuple(lazy_pinyin(chunk))


def tokens(text: str) -> list[str]:
    """Words, character pairs (`c:`) and pinyin pairs (`p:`) of `text`."""
    _ensure_jieba()
    text = normalise(text)
    out: list[str] = []
    for chunk in text.split():
        words = [w for w in jieba.lcut(chunk) if w.strip() and w not in STOPWORDS]
        out.extend(f"w:{w}" for w in words)
        han = "".join(_HAN.findall(chunk))
        out.extend(f"c:{han[i : i + 2]}" for i in range(len(han) - 1))
        py = _pinyin(han)
        out.extend(f"p:{py[i]}{py[i + 1]}" for i in range(len(py) - 1))
        if len(han) == 1 and han not in STOPWORDS:
            out.append(f"c:{han}")
    return out


class LexicalIndex:
    """Idf-weighted token coverage of a query by each label's documents.

    Each label (an entry, or the out-of-scope set) has several texts; a token belongs to the
    label when any of its texts has it. Counts per token let one text be left out
    (`exclude`), which the calibration uses to score every example as if unseen.
    """

    def __init__(self, docs: Sequence[Sequence[str]]) -> None:
        self.counts: list[Counter[str]] = []
        for texts in docs:
            counter: Counter[str] = Counter()
            for text in texts:
                counter.update(set(tokens(text)))
            self.counts.append(counter)
        df: Counter[str] = Counter()
        for counter in self.counts:
            df.update(counter.keys())
        n = len(self.counts)
        self.idf = {t: math.log(1 + n / c) for t, c in df.items()}
        self.default_idf = math.log(1 + n)

    def scores(self, query: str, exclude: tuple[int, str] | None = None) -> list[float]:
        """For every label, the share of the query's token weight it contains.

        `exclude=(label, text)` scores as if `text` were not among that label's texts.
        """
        q = set(tokens(query))
        weights = {t: self.idf.get(t, self.default_idf) for t in q}
        total = sum(weights.values())
        if not total:
            return [0.0] * len(self.counts)
        # Tokens no label has still count in the total: a query mostly about something the
        # knowledge never mentions scores low everywhere.
        out = [sum(w for t, w in weights.items() if t in c) / total for c in self.counts]
        if exclude is not None:
            label, text = exclude
            own = set(tokens(text))
            counter = self.counts[label]
            out[label] = sum(w for t, w in weights.items() if counter.get(t, 0) - (t in own) > 0) / total
        return out
