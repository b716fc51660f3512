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


def test_key_runs_agree_with_the_regex() -> None:
    samples = [*_strings(20_000), "x" * 19, "x" * 20, "é" + "x" * 20, "x" * 19 + "é" + "x", "sk-" + "A" * 17]
    for s in samples:
        runs, _ = text_scan._runs(s)
        assert bool(runs) == (text_scan._RUN.search(s) is not None), s
        assert runs == "\n".join(text_scan._RUN.findall(s)), s


def test_a_key_in_a_json_line_still_reaches_the_detectors() -> None:
    line = json.dumps(
        {"messages": [{"role": "user", "content": "my key is sk-proj-" + "a" * 20 + "T3BlbkFJ" + "b" * 20}]}
    )
    assert [f.code for f in text_scan.secrets(line)] == ["TL401"]


def test_other_prefilter_agrees_with_the_regex() -> None:
    samples = [
        *_strings(5_000),
        "-----BEGIN RSA PRIVATE KEY-----",
        "postgres://admin:hunter2@db.example.com/app",
        "https://example.com/a:b@",
        "see http://example.com",
        "PRIVATE  KEY",
    ]
    for s in samples:
        assert text_scan._other(s) == (text_scan._OTHER.search(s) is not None), s


def test_the_shared_decoder_fails_like_json_loads() -> None:
    import pytest

    from tuneline.analysis import linecheck

    for bad in ["\ufeff{}", "{", '{"a": NaN}', '{"a": 1} x', "", '{"a": "\\ud800"}', "[Infinity]"]:
        try:
            expected = json.loads(bad, parse_constant=linecheck._reject_constant)
        except ValueError as exc:
            with pytest.raises(type(exc)) as got:
                linecheck._loads(bad)
            assert str(got.value) == str(exc)
        else:
            assert linecheck._loads(bad)[0] == expected


def test_number_run_prefilter_agrees_with_the_regex() -> None:
    import re

    from tuneline.analysis.rules.content_personal import has_number_run

    run = re.compile(r"[0-9][0-9 \-.()/]{5,}[0-9]")  # the regex the byte search stands in for

    rng = random.Random(507)
    alphabet = "0123456789 -.()/a٣é\u2028x\ud800"  # an Arabic-Indic digit is no [0-9]; a lone surrogate still scans
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24))) for _ in range(50_000)]
    samples += ["1234567", "123456", "12 34 5", "(555) 010-9999", "٣٣٣٣٣٣٣", "1.2.3.4", "1-2-3-4"]
    for s in samples:
        assert has_number_run(s) == (run.search(s) is not None), s


def test_plain_ascii_agrees_with_the_printable_regex() -> None:
    import re

    from tuneline.neardup.word_scan import plain_ascii

    other = re.compile(r"[^\x20-\x7e\n]")  # the regex the byte test stands in for

    rng = random.Random(302)
    alphabet = "az AZ09\n\t\r\x00\x1f\x7f~ é😀\ud800\u2028"
    samples = ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 12))) for _ in range(50_000)]
    for s in samples:
        assert plain_ascii(s) == (other.search(s) is None), repr(s)


def test_normalised_text_keeps_an_already_normal_ascii_text_and_nothing_else() -> None:
    """The duplicate and conflict keys' whitespace normalisation returns an already-normal ASCII text unchanged
    without splitting it: every ASCII character in every position must give what splitting and joining gives, or
    two lines that differ only in spacing would stop being duplicates (or differing ones become duplicates)."""
    from tuneline.analysis.linecheck import _norm

    def expected(s: str) -> str:
        return " ".join(s.split())

    for code in range(128):
        c = chr(code)
        for s in (c, f"a{c}b", f"{c}ab", f"ab{c}", f"a {c} b", f"a{c}{c}b", f"{c} a"):
            assert _norm(s) == expected(s), repr(s)
    rng = random.Random(7)
    spaces = " \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f\x85\xa0\u2003"
    for _ in range(50_000):
        s = "".join(rng.choice(spaces if rng.random() < 0.4 else "ab.Z9é") for _ in range(rng.randint(0, 12)))
        assert _norm(s) == expected(s), repr(s)


def test_short_texts_are_what_normalising_the_whole_text_gives() -> None:
    """`short` (outline labels, finding messages) decides from the first `limit + 1` characters when they are normal
    already: whatever follows them must not change the result."""
    from tuneline.analysis.rules.base import short

    def expected(s: str, limit: int) -> str:
        s = " ".join(s.split())
        return s if len(s) <= limit else s[: limit - 1] + "…"

    rng = random.Random(8)
    spaces = " \t\n\x1c\x0b\xa0"
    for _ in range(50_000):
        s = "".join(rng.choice(spaces if rng.random() < 0.3 else "abZ9.é") for _ in range(rng.randint(0, 14)))
        for limit in (1, 3, 5, 8):
            assert short(s, limit) == expected(s, limit), (repr(s), limit)
