"""ASCII strings counted from the rank index equal tiktoken's counts, and a small `check` never loads tiktoken.

Why: a 10-line `check` spends most of its time loading o200k (#14); the index path must not move a count by one,
and anything it cannot count exactly (non-ASCII text, a damaged index) must go to tiktoken.
"""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.analysis import ascii_bpe, tokens

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT.parent / "shared" / "corpus"
SHA = tokens._URLS["o200k_base"][1]


@pytest.fixture(scope="module")
def ranks() -> dict[bytes, int]:
    path = tokens._cached_file("o200k_base")
    assert path is not None
    return tokens.parse_ranks(path.read_bytes())


@pytest.fixture(scope="module")
def counter(ranks: dict[bytes, int]) -> ascii_bpe.AsciiCounter:
    return ascii_bpe.AsciiCounter("o200k_base", ascii_bpe.build_index(ranks))


def _strings(value: object, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, dict):
        for item in value.values():
            _strings(item, out)
    elif isinstance(value, list):
        for item in value:
            _strings(item, out)


def test_random_ascii_counts_equal_tiktoken(counter: ascii_bpe.AsciiCounter) -> None:
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


def test_corpus_ascii_strings_count_as_tiktoken(counter: ascii_bpe.AsciiCounter) -> None:
    files = sorted(CORPUS.glob("*.jsonl")) + sorted((ROOT / "examples").glob("*.jsonl"))
    if not files:
        pytest.skip("../shared/corpus is not beside this checkout")
    encode = tokens.get_encoding("o200k_base").encode_ordinary
    strings: list[str] = []
    for path in files:
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines()[:400]:
            try:
                _strings(json.loads(line), strings)
            except ValueError:
                continue
    texts = [s for s in strings if s.isascii()]
    assert len(texts) > 1000
    assert [counter.count(s) for s in texts] == [len(encode(s)) for s in texts]


def test_a_damaged_index_is_rebuilt(tmp_path: Path, ranks: dict[bytes, int]) -> None:
    built = ascii_bpe.load_counter("o200k_base", tmp_path, SHA, lambda: ranks)
    assert built is not None
    (index,) = (tmp_path / "rank-index").iterdir()
    data = bytearray(index.read_bytes())
    data[-1] ^= 0xFF  # one byte of one token
    index.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="damaged"):
        ascii_bpe.AsciiCounter("o200k_base", bytes(data))
    again = ascii_bpe.load_counter("o200k_base", tmp_path, SHA, lambda: ranks)
    assert again is not None and again.count("Hello, world!") == 4
    assert ascii_bpe.AsciiCounter("o200k_base", index.read_bytes()).count("Hello, world!") == 4


def test_without_ranks_or_pattern_there_is_no_ascii_counter(tmp_path: Path) -> None:
    assert ascii_bpe.load_counter("o200k_base", tmp_path, SHA, lambda: None) is None
    assert ascii_bpe.load_counter("cl100k_base", tmp_path, SHA, lambda: {}) is None


def test_token_counter_hands_non_ascii_and_large_inputs_to_tiktoken() -> None:
    code = """
import sys
from tuneline.analysis import tokens
c = tokens.TokenCounter("o200k_base")
assert "o200k_base" not in tokens._loaded, "loaded before any count"
assert c.count("Hello there, how are you?") == 7
assert "o200k_base" not in tokens._loaded, "ASCII text loaded tiktoken"
assert c.count("Grüße") == len(tokens.get_encoding("o200k_base").encode_ordinary("Grüße"))
assert "o200k_base" in tokens._loaded
big = tokens.TokenCounter("o200k_base")
big.expect(10)
big.expect(tokens.TokenCounter.ASCII_BUDGET + 1)
assert big._encode is not None
print("ok")
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "ok", out.stderr


def test_check_of_a_small_ascii_file_does_not_load_tiktoken(tmp_path: Path) -> None:
    """Through the front door: the CLI's counts come from the index and equal tiktoken's."""
    line = {
        "messages": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "What's 12345 + 678?"},
            {"role": "assistant", "content": "13023.\n\nDon't forget: HTTPServer at x86_64 hosts."},
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
