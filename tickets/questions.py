"""The question log behind the staff report: each question, what was done with it, no names."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import and_, insert, select
from sqlalchemy.engine import Engine

from tickets.schema import questions, utcnow

MAX_QUESTION = 300


class QuestionLog:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def log(self, intent: str, decision: str, sources: list[str], text: str) -> None:
        """Remember a question and what was done with it (text already anonymised)."""
        with self.engine.begin() as conn:
            conn.execute(
                insert(questions).values(
                    at=utcnow(), intent=intent, decision=decision, sources=",".join(sources), text=text[:MAX_QUESTION]
                )
            )

    def between(self, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """The questions logged in [start, end), oldest first."""
        with self.engine.connect() as conn:
            rows = conn.execute(
                select(questions).where(and_(questions.c.at >= start, questions.c.at < end)).order_by(questions.c.id)
            )
            return [dict(r._mapping) for r in rows]
