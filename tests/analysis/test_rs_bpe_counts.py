"""rs-bpe counts exactly as tiktoken does, or it is not used (#14).

Why: with the `fast` extra `check` counts tokens with rs-bpe (~1.5× faster a string, 0.05 s to load instead of
0.22); a count that moved by one would move TL201 verdicts, prices and every token figure. So every string of the
bundled examples and the shared corpus, fuzzed text and long runs are counted by both; a version not checked here
and a string rs-bpe cannot take (a lone surrogate) are counted by tiktoken; and `tuneline check` gives byte-identical
JSON with and without rs-bpe.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import rs_bpe
from hypothesis import given, settings
from hypothesis import strategies as st

from tuneline.analysis import tokens

from .helpers import CORPUS, json_strings

REPO = Path(__file__).resolve().parents[2]
ENCODINGS = ["o200k_base", "cl100k_base"]
# Pieces that stress the pre-tokeniser: letter cases, contractions, digits of several scripts, every kind of space,
# CJK, emoji sequences, combining marks, title-case letters, control characters.
PIECES = [
    "abc", "XYZ", "Hello", "hELLO", "'s", "'T", "'ll", "'VE", "'re", "'d", "'M", "0", "12", "345", "6789", "٣٤٥",
    "½", "Ⅻ", "²", " ", "  ", "\t", "\n", "\r\n", "\n\n\n", "\u00a0", "\u3000", "\u2028", "\u200b", ".", ",", "!?",
    "...", "--", "()", "[]", "{}", "<|endoftext|>", "\"", "`", "\\", "/", "@#$%^&*", "你好", "世界", "日本語",
    "テキスト", "한국어", "éÉ", "üÜ", "ß", "Æø", "ΩΣ", "Жж", "ąĄ", "😀", "👍🏽", "👨\u200d👩\u200d👧", "🇫🇷", "\u0301",
    "\u0308", "ǅ", "ǈ", "\x00", "\x7f", "\u0085", "def f(x):", "    return", "http://a.b/c?d=1",
]  # fmt: skip


def _corpus_strings() -> list[str]:
    files = sorted((REPO / "examples").glob("*.jsonl"))
    if CORPUS.is_dir():
        files += sorted(CORPUS.glob("*.json*"))
    out = []
    for path in files:
        text = path.read_text("utf-8")
        out.append(text)  # the whole file as one string: long, with every line ending
        values = [json.loads(text)] if path.suffix == ".json" else []
        for line in text.splitlines() if path.suffix == ".jsonl" else ():
            try:
                values.append(json.loads(line))
            except ValueError:
                out.append(line)
        for value in values:
            out.extend(json_strings(value, keys=True))
    return out


def _tiktoken_count(name: str, text: str) -> int:
    return len(tokens.get_encoding(name).encode_ordinary(text))


@pytest.mark.parametrize("name", ENCODINGS)
def test_every_corpus_string_counts_the_same(name: str) -> None:
    fast = tokens.rs_bpe_count(name)
    assert fast is not None, "rs-bpe is installed (the `fast` extra) and its version is a checked one"
    strings = _corpus_strings()
    assert len(strings) > 1_000
    differ = [s[:60] for s in strings if fast(s) != _tiktoken_count(name, s)]
    assert differ == []


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=40).map("".join))
def test_fuzzed_pieces_count_the_same(name: str, text: str) -> None:
    assert tokens.exact_counter(name)(text) == _tiktoken_count(name, text)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=200))
def test_fuzzed_text_counts_the_same(name: str, text: str) -> None:
    assert tokens.exact_counter(name)(text) == _tiktoken_count(name, text)


@pytest.mark.parametrize("name", ENCODINGS)
@pytest.mark.parametrize("run", ["a", " ", "1", "\n", " \n", "ab ", "9 ", "😀", "'s"])
def test_long_runs_count_the_same(name: str, run: str) -> None:
    text = run * (6_000 // len(run))
    assert tokens.exact_counter(name)(text) == _tiktoken_count(name, text)


def test_a_lone_surrogate_is_counted_by_tiktoken() -> None:
    fast = tokens.rs_bpe_count("o200k_base")
    assert fast is not None
    text = "before \ud800 after"
    with pytest.raises(UnicodeEncodeError):
        fast(text)
    counter = tokens.TokenCounter("o200k_base")
    counter.load()
    assert counter.count(text) == _tiktoken_count("o200k_base", text) > 0


def test_an_unchecked_version_is_not_used(monkeypatch: pytest.MonkeyPatch) -> None:
    tokens.rs_bpe_count.cache_clear()
    monkeypatch.setattr(rs_bpe, "__version__", "9.9.9")
    try:
        assert tokens.rs_bpe_count("o200k_base") is None
        text = "Counted by tiktoken instead."
        assert tokens.exact_counter("o200k_base")(text) == _tiktoken_count("o200k_base", text)
    finally:
        tokens.rs_bpe_count.cache_clear()


_WITHOUT_RS_BPE = "import sys; sys.modules['rs_bpe'] = None; from tuneline.cli import main; sys.exit(main())"
# rs-bpe's package itself imports, its extension does not: the package prints two lines, which must not reach
# stdout (JSON here; a language server's JSON-RPC stream) or stderr
_BROKEN_RS_BPE = "import sys; sys.modules['rs_bpe.bpe'] = None; from tuneline.cli import main; sys.exit(main())"


def test_check_output_is_the_same_with_and_without_rs_bpe(tmp_path: Path) -> None:
    """Through the front door: a file over the parallel threshold (workers count too), with a lone surrogate, long
    runs and the bundled examples' lines, gives byte-identical `check --format json` output with rs-bpe, without
    it, and with a broken install of it."""
    sources = [line for p in sorted((REPO / "examples").glob("*.jsonl")) for line in p.read_text("utf-8").splitlines()]
    extra = [
        json.dumps({"messages": [{"role": "user", "content": "odd \\ud800 text"}]}).replace("\\\\ud800", "\\ud800"),
        json.dumps({"messages": [{"role": "user", "content": " " * 3000 + "1" * 3000}, {"role": "assistant", "content": "ok"}]}),
    ]  # fmt: skip
    assert '"odd \\ud800 text"' in extra[0]
    lines = (sources * (4_500_000 // sum(map(len, sources)) + 1)) + extra
    path = tmp_path / "data.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    args = ["check", "--format", "json", path.name]
    with_rs = subprocess.run(
        [sys.executable, "-m", "tuneline", *args], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    without, broken = (
        subprocess.run([sys.executable, "-c", code, *args], cwd=tmp_path, capture_output=True, text=True, timeout=300)
        for code in (_WITHOUT_RS_BPE, _BROKEN_RS_BPE)
    )
    assert with_rs.stderr == without.stderr == broken.stderr == ""
    assert with_rs.stdout == without.stdout == broken.stdout
    report = json.loads(with_rs.stdout)
    assert report["files"][0]["tokens"]["total"] > 0
