"""`python -m speech.transcribe FILE…`: one line per file, the simplified-Chinese text heard.

For staff and tests. A file that gives no trusted text prints `[reason]` after the text
(or alone): `[unsure: low_confidence]`, `[no_speech]`, `[video]` … (see speech.asr.REASONS).
`--details` adds the recogniser's confidence and timings; `--expect yes_no` transcribes
answers to a read-back. The exit status is 0 when every file gave a trusted transcript.
"""

from __future__ import annotations

import argparse
import logging
import sys

from speech.asr import Transcript, transcribe


def line(result: Transcript, details: bool = False) -> str:
    """How one result is printed."""
    parts = [result.text] if result.text else []
    if result.reason:
        parts.append(f"[unsure: {result.reason}]" if result.unsure else f"[{result.reason}]")
    if details:
        parts.append(
            f"(logprob {result.avg_logprob}, no-speech {result.no_speech_prob}, "
            f"compression {result.compression_ratio}, {result.audio_seconds:.1f} s audio in {result.elapsed:.2f} s)"
        )
    return " ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m speech.transcribe", description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="+", help="voice notes or audio files")
    parser.add_argument("--expect", choices=("question", "yes_no"), default="question")
    parser.add_argument("--details", action="store_true", help="also print confidence and timings")
    parser.add_argument("--names", action="store_true", help="start each line with the file name")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    all_ok = True
    for name in args.files:
        result = transcribe(name, expect=args.expect)
        all_ok &= result.ok
        text = line(result, args.details)
        print(f"{name}\t{text}" if args.names else text, flush=True)
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
