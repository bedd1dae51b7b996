"""The lexical tokens: traditional characters fold, homophone typos share pinyin pairs."""

from __future__ import annotations

from knowledge.lexical import LexicalIndex, normalise, tokens


def kinds(text: str, kind: str) -> set[str]:
    return {t for t in tokens(text) if t.startswith(kind)}


def test_traditional_characters_give_the_same_tokens() -> None:
    assert tokens("殘疾人證") == tokens("残疾人证")
    assert tokens("殘疾人兩項補貼是什麼") == tokens("残疾人两项补贴是什么")
    assert normalise("殘疾人證") == "残疾人证"


def test_full_width_and_case_fold() -> None:
    assert normalise("ＸＷ－７Ｋ３Ｐ９ 殘疾證") == "xw 7k3p9 残疾证"
    assert tokens("ＡＢＣ") == tokens("abc")


def test_homophone_typos_share_pinyin_tokens() -> None:
    typo, right = "两项补帖", "两项补贴"
    assert kinds(typo, "c:") != kinds(right, "c:")  # different characters …
    assert kinds(typo, "p:") == kinds(right, "p:")  # … the same sound
    assert "p:butie" in kinds(typo, "p:")
    assert "p:canji" in kinds("残疾正", "p:") & kinds("残疾证", "p:")


def test_stopwords_are_not_words() -> None:
    words = kinds("我想问一下残疾人证怎么办", "w:")
    assert "w:怎么办" not in words and "w:我" not in words
    assert words & {"w:残疾人证", "w:残疾人", "w:证"}


def test_a_typo_still_finds_its_document() -> None:
    index = LexicalIndex([["两项补贴是什么"], ["残疾人证怎么办"], ["高龄津贴怎么领"]])
    scores = index.scores("两项补帖是啥")
    assert scores[0] > 0.4
    assert scores[0] > scores[1] and scores[0] > scores[2]


def test_scores_are_shares_between_0_and_1() -> None:
    index = LexicalIndex([["两项补贴是什么"], ["残疾人证怎么办"]])
    assert index.scores("两项补贴是什么")[0] == 1.0
    assert index.scores("今天天气真好") == [0.0, 0.0]
    assert index.scores("") == [0.0, 0.0]
    assert index.scores("两项补贴是什么", exclude=(0, "两项补贴是什么"))[0] == 0.0
