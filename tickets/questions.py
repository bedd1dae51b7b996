"""The question log behind the staff report: each question, what was done with it, no names.

Decisions (what the assistant did): answer, followup, clarify (a numbered menu), none_fits
(the resident said 都不是 to a menu), unknown ("我没有可靠的资料", a person offered),
out_of_scope, urgent (a person in danger). `entry` is the knowledge entry answered, when
the logger gives it (an ID has several entries; the report needs the entry to tell an
answer with "我这里没有可靠的记录" from a full one). Texts are anonymised here too: phones
and other long numbers (in digits or Chinese numerals), ticket numbers, self-given names.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Engine

from tickets.phone import spoken_digit_runs
from tickets.schema import questions, utcnow

MAX_QUESTION = 300
DECISIONS = ("answer", "followup", "clarify", "none_fits", "unknown", "out_of_scope", "urgent")
_LONG_NUMBER = re.compile(r"\d[\d\s\-]{5,}\d[Xx]?")
_TICKET = re.compile(r"(?i)xw[\s\-]*[0-9a-z]{5}")
_SELF_NAME = re.compile(r"(我叫|我是|名字叫|我姓|我老婆叫|我老公叫|我儿子叫|我女儿叫)[\u4e00-\u9fff]{1,3}")


def anonymise(text: str) -> str:
    """Question text for reports: no phone, ID or other long number, ticket number or self-given name."""
    text = spoken_digit_runs(text, "〔号码〕")
    text = _LONG_NUMBER.sub("〔号码〕", text)
    text = _TICKET.sub("〔编号〕", text)
    return _SELF_NAME.sub(r"\1〔姓名〕", text)


class QuestionLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def log(self, intent: str, decision: str, sources: list[str], text: str, entry: str = "") -> None:
        """Remember a question and what was done with it (anonymised once more here)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(questions).values(
                    at=utcnow(),
                    intent=intent[:32],
                    decision=decision[:16],
                    sources=",".join(sources)[:256],
                    text=anonymise(text)[:MAX_QUESTION],
                    entry=entry[:64],
                )
            )

    def between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The questions logged in [start, end), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(questions).where(and_(questions.c.at >= start, questions.c.at < end)).order_by(questions.c.id)
            )
            return [dict(r._mapping) for r in rows]
