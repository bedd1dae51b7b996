"""Traditional characters to simplified (OpenCC t2s): one converter for the process, made on
first use. What residents type (a relative in 香港 or 台湾), what Whisper writes and what the
understanding step reads all go through `simplified`."""

from __future__ import annotations

from functools import lru_cache
from typing import Any


@lru_cache(maxsize=1)
def _converter() -> Any:
    import opencc

    return opencc.OpenCC("t2s")


def simplified(text: str) -> str:
    """`text` in simplified characters ("確認，謝謝" → "确认，谢谢"); everything else kept."""
    return _converter().convert(text or "")
