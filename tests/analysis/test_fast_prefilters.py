"""Byte-level prefilters answer exactly what the regexes they stand in for answer (#14).

Why: a prefilter that says "no" wrongly hides a secret (a false pass); the fast path must be exact, not close.
"""

from __future__ import annotations

import json
import random

from tuneline.analysis.rules import text_scan

_ALPHABET = "abcXYZ019_-+/=. \t\"'é€🚀\u2028\ud800:;,@"


def _strings(n: int) -> list[str]:
    rng = random.Random(14)
    out = []
    for _ in range(n):
        length = rng.randint(0, 60)
        # runs of key characters around the 20 boundary, broken by one other character
        out.append(
            "".join(rng.choice(_ALPHABET) if rng.random() < 0.08 else rng.choice("aZ9_-") for _ in range(length))
        )
    return out


def test_has_key_run_agrees_with_the_regex() -> None:
    samples = [*_strings(20_000), "x" * 19, "x" * 20, "é" + "x" * 20, "x" * 19 + "é" + "x", "sk-" + "A" * 17]
    for s in samples:
        assert text_scan.has_key_run(s) == (text_scan._RUN.search(s) is not None), s


def test_a_key_in_a_json_line_still_reaches_the_detectors() -> None:
    line = json.dumps(
        {"messages": [{"role": "user", "content": "my key is sk-proj-" + "a" * 20 + "T3BlbkFJ" + "b" * 20}]}
    )
    assert [f.code for f in text_scan.secrets(line)] == ["TL401"]
