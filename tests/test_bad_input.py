"""Bad input never crashes a process and always gets a polite reply (foundation issue)."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

BAD_INPUTS = {
    "empty": "",
    "whitespace": "   \n\t  ",
    "very long": "我想问一下补贴的事情。" * 2000,  # 20,000 characters
    "emoji only": "😀😀😀🙏🙏",
    "control characters": "\x00\x01\x02\x1b[31m\x7f",
    "mixed traditional": "請問殘疾人證怎麼辦理，要帶什麼材料",
}


@pytest.mark.parametrize("name", list(BAD_INPUTS))
def test_bad_input_gets_a_polite_reply(services, name: str) -> None:
    sender = f"bad-{name.replace(' ', '-')}"
    replies = services.send(sender, BAD_INPUTS[name])
    texts = [r["text"] for r in replies if r.get("text")]
    assert texts, f"no reply to {name!r}"
    assert all(t.strip() for t in texts)
    # The assistant is still alive and answering afterwards.
    assert services.texts(sender, "你好")


def test_traditional_characters_reach_the_right_topic(services) -> None:
    services.send("bad-trad", BAD_INPUTS["mixed traditional"])
    tracker = services.tracker("bad-trad")
    assert tracker["latest_message"]["intent"]["name"] == "ask_policy"
    assert tracker["slots"]["answer_sources"][:1] in (["m1.5"], ["m7.2"])
