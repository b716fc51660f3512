"""Strings counted from the rank index equal tiktoken's counts, and a small `check` never loads tiktoken.

Why: a 10-line `check` spends most of its time loading o200k (#14); the index path must not move a count by one,
and anything it cannot vouch for (a character whose classes might differ, a damaged index) must go to tiktoken.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tuneline.analysis import rank_index, tokens

from .helpers import CORPUS, check_process, json_strings

ROOT = Path(__file__).resolve().parents[2]
SHA = tokens._URLS["o200k_base"][1]


@pytest.fixture(scope="module", autouse=True)
def machine_index() -> None:
    """Tests below that count in fresh processes expect this machine's index built (as after any first run)."""
    tokens._index_counter("o200k_base")


@pytest.fixture(scope="module")
def by_rank() -> list[bytes]:
    data = tokens._verified_rank_file("o200k_base")
    assert data is not None
    return tokens.tokens_by_rank(data)


@pytest.fixture(scope="module")
def counter(by_rank: list[bytes]) -> rank_index.IndexCounter:
    return rank_index.IndexCounter("o200k_base", rank_index.build_index(by_rank))


@pytest.mark.parametrize("name", sorted(tokens._URLS))
def test_the_genuine_rank_files_list_their_tokens_by_rank(name: str) -> None:
    """`tokens_by_rank` reads only the token column of a verified file: that is exact because each genuine file
    lists ranks 0..n-1 in order, which this checks against tiktoken's own parse of the whole file."""
    data = tokens._verified_rank_file(name)
    assert data is not None
    by_rank = tokens.tokens_by_rank(data)
    assert dict(zip(by_rank, range(len(by_rank)))) == tokens.parse_ranks(data)
    assert len(set(by_rank)) == len(by_rank) > 100_000


def test_a_rank_file_of_another_layout_is_refused() -> None:
    assert tokens.tokens_by_rank(b"IQ== 0\nIg== 1\n") == [b"!", b'"']
    for layout in (b"", b"IQ== 0\nIg==\n", b"IQ== 1\nIg== 0\n", b"IQ== 0\nIg== 2\n"):
        with pytest.raises(ValueError, match=r"ranks 0\.\.n-1"):
            tokens.tokens_by_rank(layout)


def test_the_index_is_built_from_the_bundle_without_seeding_tiktokens_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A machine's first small `check` reads the bundled file once for the index; tiktoken's 3.6 MB copy is written
    only by a process that loads tiktoken."""
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    counter = tokens._index_counter("o200k_base")
    assert counter is not None and counter.count("Hello, world!") == 4
    assert not (tmp_path / "tiktoken").exists()
    assert len(list((tmp_path / "cache" / "tuneline" / "rank-index").iterdir())) == 1


def test_random_ascii_counts_equal_tiktoken(counter: rank_index.IndexCounter) -> None:
    encode = tokens.get_encoding("o200k_base").encode_ordinary
    rng = random.Random(14)
    every = [chr(i) for i in range(128)]
    tricky = list(" \t\n\r\x0b\x0c\x1c\x1f'sStTreREvVmMlLdD0189aZ/.,!-_#")  # whitespace, contractions, digits
    words = ["don't", "I'LL", "we've", "HTTPServer", "x86_64", "1234567", "  \n", "://", "café"[:3], "<|endoftext|>"]
    for k in range(3000):
        if k % 3 == 0:
            text = "".join(rng.choice(every) for _ in range(rng.randint(0, 60)))
        elif k % 3 == 1:
            text = "".join(rng.choice(tricky) for _ in range(rng.randint(0, 60)))
        else:
            text = "".join(rng.choice(words + tricky) for _ in range(rng.randint(0, 20)))
        assert counter.count(text) == len(encode(text)), repr(text)


def test_corpus_strings_count_as_tiktoken(counter: rank_index.IndexCounter) -> None:
    files = sorted(CORPUS.glob("*.jsonl")) + sorted((ROOT / "examples").glob("*.jsonl"))
    if not files:
        pytest.skip("../shared/corpus is not beside this checkout")
    encode = tokens.get_encoding("o200k_base").encode_ordinary
    strings: list[str] = []
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:400]:
            try:
                strings.extend(json_strings(json.loads(line)))
            except ValueError:
                continue
    counts = [counter.count(s) for s in strings]
    vouched = [(s, n) for s, n in zip(strings, counts) if n is not None]
    non_ascii = [s for s, _ in vouched if not s.isascii()]
    assert len(vouched) > 0.99 * len(strings) and len(non_ascii) > 100
    assert [n for _, n in vouched] == [len(encode(s)) for s, _ in vouched]


# Characters from many scripts and kinds: accents, CJK, Hangul, Devanagari with marks, Arabic, digits that are not
# ASCII, typographic punctuation, no-break spaces, emoji with skin tones and joiners, a private-use character.
_WORLD = list("éÉàçñøßÆœ’‘“”—–…•·°±×÷€£¥©®™←→↔⇒∀∑√∞≠≤≥²³½¼") + list("中文字符日本語ひらがなカタカナ한국어")
_WORLD += list("हिन्दीभाषा") + list("العربية٠١٢٣") + list("Ελληνικάкириллица") + ["\u00a0", "\u2009", "\u3000", "\u0301"]
_WORLD += ["😀", "🚀", "👍🏽", "👩\u200d💻", "🧪", "🫠", "\ue123", "\ufe0f"]


def test_random_world_text_counts_equal_tiktoken(counter: rank_index.IndexCounter) -> None:
    encode = tokens.get_encoding("o200k_base").encode_ordinary
    rng = random.Random(15)
    ascii_bits = [*"  aAzZ09'sT\n\t.,!?/-", "'ll", "'RE", "don't", "12345"]
    alphabet = _WORLD + ascii_bits
    for _ in range(3000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40)))
        n = counter.count(text)
        assert n is not None, repr(text)
        assert n == len(encode(text)), repr(text)


def test_stand_ins_have_the_classes_of_the_characters_they_stand_for() -> None:
    """Every character the index path vouches for is in exactly the pattern classes its stand-in is in, by the
    `regex` module's Unicode tables (a newer Unicode than Python's), and none case-folds into a contraction."""
    regex = pytest.importorskip("regex")
    classes = {
        "letter": r"\p{L}",
        "capital-ish": r"[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]",
        "small-ish": r"[\p{Ll}\p{Lm}\p{Lo}\p{M}]",
        "number": r"\p{N}",
        "space": r"\p{White_Space}",
        "line": r"[\r\n]",
    }
    theirs = {name: regex.compile(pattern).fullmatch for name, pattern in classes.items()}
    ours = {
        "letter": re.compile(r"[A-Za-z\ue000]").fullmatch,
        "capital-ish": re.compile(r"[A-Z\ue000\ue001]").fullmatch,
        "small-ish": re.compile(r"[a-z\ue000\ue001]").fullmatch,
        "number": re.compile(r"[0-9]").fullmatch,
        "space": re.compile(r"[\t\n\x0b\x0c\r ]").fullmatch,
        "line": re.compile(r"[\r\n]").fullmatch,
    }
    folds = regex.compile(r"(?i)[strevmld]").fullmatch
    codes = [*range(0x80, 0xD800), *range(0xE000, 0x110000)]  # every code point but surrogates
    vouched = 0
    for code in codes:
        char = chr(code)
        shadow = rank_index.stand_in(char)
        if shadow == rank_index._UNSURE:
            continue
        vouched += 1
        for name in classes:
            assert bool(theirs[name](char)) == bool(ours[name](shadow)), (hex(code), name)
        assert not folds(char), hex(code)
    assert vouched > 200_000
    # a category that moved since Unicode 3.2 (ª and º became Lo in 6.1) is not vouched for
    assert rank_index.stand_in("º") == rank_index.stand_in("\u0295") == rank_index._UNSURE


def test_a_damaged_index_is_rebuilt(tmp_path: Path, by_rank: list[bytes]) -> None:
    built = rank_index.load_counter("o200k_base", tmp_path, SHA, lambda: by_rank)
    assert built is not None
    (index,) = (tmp_path / "rank-index").iterdir()
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF  # one byte of one token
    index.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        rank_index.IndexCounter("o200k_base", bytes(data))
    again = rank_index.load_counter("o200k_base", tmp_path, SHA, lambda: by_rank)
    assert again is not None and again.count("Hello, world!") == 4
    assert rank_index.IndexCounter("o200k_base", index.read_bytes()).count("Hello, world!") == 4


def test_a_long_unbroken_piece_goes_to_tiktoken(counter: rank_index.IndexCounter) -> None:
    """Merging is quadratic in a piece's length here: a long run without a break (a base64 blob, a row of one
    letter) is tiktoken's to count, so the editor never stalls on it."""
    assert counter.count("x" + "qzj" * 40) is not None
    assert counter.count("see " + "x" + "qzj" * 3000 + " ok") is None


def test_without_ranks_or_pattern_there_is_no_ascii_counter(tmp_path: Path) -> None:
    assert rank_index.load_counter("o200k_base", tmp_path, SHA, lambda: None) is None
    assert rank_index.load_counter("cl100k_base", tmp_path, SHA, lambda: []) is None


def test_token_counter_hands_unsure_text_and_large_inputs_to_tiktoken() -> None:
    code = """
import sys
from tuneline.analysis import tokens
c = tokens.TokenCounter("o200k_base")
assert "o200k_base" not in tokens._loaded, "loaded before any count"
assert c.count("Hello there, how are you?") == 7
assert "o200k_base" not in tokens._loaded, "ASCII text loaded tiktoken"
world = c.count("Grüße, 世界 😀")
assert "o200k_base" not in tokens._loaded, "text the index vouches for loaded tiktoken"
assert c.count("\\U0001e4d0 x") == len(tokens.get_encoding("o200k_base").encode_ordinary("\\U0001e4d0 x"))
assert "o200k_base" in tokens._loaded
assert world == len(tokens.get_encoding("o200k_base").encode_ordinary("Grüße, 世界 😀")) == 6
big = tokens.TokenCounter("o200k_base")
big.expect(10)
big.expect(big._budget + 1)
assert big._count is not None
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_check_of_a_small_file_does_not_load_tiktoken(tmp_path: Path) -> None:
    """Through the front door: the CLI's counts come from the index and equal tiktoken's."""
    line = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What's 12345 + 678?"},
            {"role": "assistant", "content": "13023.\n\nDon't forget: HTTPServer at x86_64 hosts — café ✓ 😀."},
        ]
    }
    path = tmp_path / "small.jsonl"
    path.write_text((json.dumps(line) + "\n") * 12, encoding="utf-8")
    code = """
import sys
from tuneline.cli import main
from tuneline.analysis import tokens
main(["check", "--format", "json", sys.argv[1]])
sys.stderr.write("loaded=%s" % ("o200k_base" in tokens._loaded))
"""
    run = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=60)
    assert "loaded=False" in run.stderr, run.stderr
    report = json.loads(run.stdout)
    from tuneline.analysis.counting import count_example

    expected = count_example(line["messages"], tokens.TokenCounter("o200k_base"))[0]
    encode = tokens.get_encoding("o200k_base").encode_ordinary
    assert expected == sum(3 + len(encode(m["role"])) + len(encode(m["content"])) for m in line["messages"]) + 3
    assert report["files"][0]["tokens"] == {
        "total": 12 * expected,
        "p50": expected,
        "p95": expected,
        "max": expected,
        "exact": True,
    }


def test_a_large_file_never_builds_the_index(tmp_path: Path) -> None:
    """The index is opened when a string first needs it: a file large enough to load the tokenizer up front
    (`expect`) counts without it, so its first run on a machine does not build it (~0.3 s); a small file's does."""
    line = json.dumps(
        {"messages": [{"role": "user", "content": "word " * 60}, {"role": "assistant", "content": "ok."}]}
    )
    big, small = tmp_path / "big.jsonl", tmp_path / "small.jsonl"
    big.write_text("\n".join(line.replace("word", f"w{i}", 1) for i in range(3000)) + "\n", encoding="utf-8")
    small.write_text(line + "\n", encoding="utf-8")
    assert big.stat().st_size > tokens.TokenCounter.INDEX_BUDGET  # with rs-bpe or without
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    cold = json.loads(check_process(big, env=env).stdout)
    assert not (tmp_path / "cache" / "tuneline" / "rank-index").exists()
    check_process(small, env=env)  # builds it: here, or in the background (with rs-bpe: test_rank_index_build.py)
    index = rank_index.index_path(tmp_path / "cache" / "tuneline", "o200k_base", SHA)
    deadline = time.monotonic() + 60
    while not index.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert index.exists()
    assert json.loads(check_process(big, env=env).stdout) == cold
