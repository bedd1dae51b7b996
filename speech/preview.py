"""`python -m speech.preview KEY…` / `--all`: what a blind resident hears for each knowledge entry.

For every entry (knowledge.base.load(), read now, so edits show at once) the first reply
is built the way actions/answer.py builds it (domain.yml's utter_answer: answer, 来源,
下一步, followed by the speech payload with the entry's `spoken` text), turned into its
spoken form (speech.spoken.plan_for) and synthesised with the real voice at the default
rate (speech.spoken.measure: the seconds its voice note lasts, without encoding one);
printed: key, seconds, and the text with ｜ where there is a pause, then the median, p90
and max. `--shorter`, `--slower`, `--no-sources` preview a listener's settings;
`--written` reads the written answer and next step instead (no payload: what the voice
said before entries had a spoken text); `--json` prints the figures as JSON. Exit status
1 when an entry misses the targets (TARGET_MEDIAN_S for the median answer,
TARGET_MAX_S for every answer).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
from dataclasses import dataclass

from common.texts import say

TARGET_MEDIAN_S = 25.0  # a policy answer, at the default rate
TARGET_MAX_S = 40.0  # no answer longer


@dataclass(frozen=True)
class Preview:
    key: str
    seconds: float
    spoken: str


def reply_text(entry: object) -> str:
    """The reply text actions/answer.py sends for an entry's first answer."""
    return say("utter_answer", answer=entry.answer, cite=entry.cite, next_step=entry.next_step)  # type: ignore[attr-defined]


def speech_of(entry: object) -> dict[str, str]:
    """The speech payload the action server sends after the entry's first answer."""
    from speech.spoken import speech_payload

    return speech_payload(entry.spoken, [s.cite for s in entry.sources])  # type: ignore[attr-defined]


def preview(entry: object, listener: object = None, rate: int | None = None, *, written: bool = False) -> Preview:
    """Synthesise one entry's first reply and measure it (speech.spoken.measure: the seconds
    of its voice note, which is not encoded).

    `written`: without the speech payload, i.e. the written answer and next step read out.
    """
    from speech.spoken import Listener, measure, plan_for, spoken_text

    listener = listener or Listener()
    pieces = plan_for(reply_text(entry), None if written else speech_of(entry), listener)  # type: ignore[arg-type]
    seconds = measure(pieces, rate=listener.rate(rate))  # type: ignore[union-attr]
    return Preview(entry.key, round(seconds, 1), spoken_text(pieces))  # type: ignore[attr-defined]


def percentile(values: list[float], pct: float) -> float:
    """The nearest-rank percentile: the smallest value with `pct` % of the values at or below it."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(pct / 100 * len(ordered)) - 1)]


def main(argv: list[str] | None = None) -> int:
    from knowledge.base import load
    from speech.spoken import Listener

    parser = argparse.ArgumentParser(prog="python -m speech.preview", description=__doc__.split("\n\n")[0])
    parser.add_argument("keys", nargs="*", help="knowledge entry keys (see knowledge/entries)")
    parser.add_argument("--all", action="store_true", help="every entry")
    parser.add_argument("--shorter", action="store_true")
    parser.add_argument("--slower", action="store_true")
    parser.add_argument("--no-sources", action="store_true")
    parser.add_argument("--written", action="store_true", help="read the written answer and next step")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    kb = load()
    if args.all:
        entries = list(kb.entries)
    else:
        unknown = [k for k in args.keys if k not in kb.by_key]
        if unknown or not args.keys:
            parser.error(f"unknown keys: {', '.join(unknown)}" if unknown else "give keys or --all")
        entries = [kb.by_key[k] for k in args.keys]
    listener = Listener(shorter=args.shorter, slower=args.slower, sources=not args.no_sources)
    results = []
    for entry in entries:
        p = preview(entry, listener, written=args.written)
        results.append(p)
        if not args.json:
            print(f"{p.key}\t{p.seconds:.1f} s\t{p.spoken}", flush=True)
    seconds = [p.seconds for p in results]
    median, longest = statistics.median(seconds), max(seconds)
    p90 = percentile(seconds, 90)
    over = [p.key for p in results if p.seconds > TARGET_MAX_S]
    if args.json:
        print(
            json.dumps(
                {"entries": [vars(p) for p in results], "median_s": median, "p90_s": p90, "max_s": longest},
                ensure_ascii=False,
            )
        )
    else:
        print(
            f"{len(results)} entries: median {median:.1f} s (target ≤ {TARGET_MEDIAN_S:.0f}), p90 {p90:.1f} s, "
            f"max {longest:.1f} s (target ≤ {TARGET_MAX_S:.0f}); over the max: {', '.join(over) or 'none'}"
        )
    return 0 if (median <= TARGET_MEDIAN_S or len(results) < 2) and not over else 1


if __name__ == "__main__":
    sys.exit(main())
