"""Counting a text as the sum of its words' counts gives tiktoken's count, whatever the text (#14).

Why: `exact_counter` sums the counts of the parts a text's single spaces cut it into, each part counted once per
process (`word_counts`). The argument that this is exact rests on the encodings' patterns; these tests hold it to
tiktoken on every string of the examples and the corpus, counted by one counter so that later strings take earlier
words' counts, on fuzzed text made of the pieces that stress the pattern (every kind of space, line breaks,
contractions, marks, surrogates), and on inputs that would be slow if joining parts were not linear. Each test
runs on both implementations: `WordCounts` (Python, compiled by mypyc) and `WordTable` (C, `word_table.c`), which
the compiled engine's build makes and `exact_counter` then uses.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuneline.analysis import native, tokens, word_counts
from tuneline.analysis.word_counts import WordCounts, word_counter

from .test_rs_bpe_counts import ENCODINGS, PIECES, _corpus_strings, _tiktoken_count

# Around spaces, the pattern's alternatives that start or end there: words with a prefix character, punctuation
# runs with a leading space, runs of white space with and without a line break, contractions right after a space.
SPACED = [*PIECES, " ", " ", " a", " A", "a ", " 's", " '", "' ", " .", ". ", " \n", "\n ", "\t ", " \t", "\u00a0 ",
          " \u3000", "\x1c ", " \x1f", " \u0301", "\u0301 ", " 1", "1 ", " \ud800", "\ud800 ", " 😀", "x"]  # fmt: skip


def _word_table() -> type | None:
    try:
        from tuneline.analysis._word_table import WordTable  # type: ignore[import-not-found]
    except ImportError:
        return None
    return WordTable


WORD_TABLE = _word_table()
IMPLEMENTATIONS = ["python", "c"]


def _make(impl: str, count: Callable[[str], int]) -> Callable[[str], int]:
    if impl == "python":
        return WordCounts(count)
    if WORD_TABLE is None:
        pytest.skip("the compiled engine is not built: no C word table")
    return WORD_TABLE(count)  # type: ignore[no-any-return]


def _remembered(counter: Callable[[str], int]) -> int:
    return len(counter._after) + len(counter._first) if isinstance(counter, WordCounts) else counter.remembered()  # type: ignore[attr-defined]


def _raw(name: str) -> Callable[[str], int]:
    return tokens.exact_counter(name)._count  # type: ignore[attr-defined,no-any-return]


_SHARED: dict[tuple[str, str], Callable[[str], int]] = {}


def _shared(impl: str, name: str) -> Callable[[str], int]:
    """One counter per implementation and encoding, warm across a test's examples."""
    if (impl, name) not in _SHARED:
        _SHARED[impl, name] = _make(impl, _raw(name))
    return _SHARED[impl, name]


def test_the_exact_counter_sums_words_for_the_encodings_it_may() -> None:
    for name in ENCODINGS:
        counter = tokens.exact_counter(name)
        assert isinstance(counter, WordCounts) or (WORD_TABLE is not None and isinstance(counter, WORD_TABLE))
    assert set(ENCODINGS) == word_counts.ENCODINGS


def test_the_c_table_is_used_where_the_compiled_engine_is() -> None:
    """Where setup built the compiled engine, the C table came with it and `exact_counter` counts with it."""
    if native.in_use() or os.environ.get("TUNELINE_EXPECT_NATIVE") == "1":
        assert WORD_TABLE is not None
        assert all(isinstance(tokens.exact_counter(name), WORD_TABLE) for name in ENCODINGS)
        assert isinstance(word_counter(len), WORD_TABLE)
    else:
        assert isinstance(word_counter(len), WordCounts)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", ENCODINGS)
def test_every_corpus_string_counts_as_tiktoken_counts_it(impl: str, name: str) -> None:
    counter = _make(impl, _raw(name))
    strings = _corpus_strings()
    assert len(strings) > 1_000
    differ = [s[:60] for s in strings if counter(s) != _tiktoken_count(name, s)]
    assert differ == []
    assert _remembered(counter) > 1_000  # later strings were counted from words seen before


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(SPACED), max_size=60).map("".join))
def test_fuzzed_spaced_text_counts_as_tiktoken_counts_it(impl: str, name: str, text: str) -> None:
    assert _shared(impl, name)(text) == _tiktoken_count(name, text)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), max_size=30).map(" ".join))
def test_fuzzed_words_between_single_spaces_count_as_tiktoken_counts_them(impl: str, name: str, text: str) -> None:
    assert _shared(impl, name)(text) == _tiktoken_count(name, text)


@pytest.mark.parametrize("impl", IMPLEMENTATIONS)
@pytest.mark.parametrize("text", [" " * 400_000, "a " * 200_000, "a  " * 150_000, "\n " * 200_000, "x\t " * 150_000])
def test_long_runs_of_spaces_are_counted_in_linear_time(impl: str, text: str) -> None:
    """A space that does not cut joins its neighbours: joined once per part, never one concatenation per space
    (a megabyte of spaces would take minutes)."""
    fast = tokens.rs_bpe_count("o200k_base")
    assert fast is not None
    counter = _make(impl, fast)
    started = time.perf_counter()
    n = counter(text)
    assert time.perf_counter() - started < 5
    assert n == fast(text)


def test_the_remembered_words_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(word_counts, "_MAX_WORDS", 50)
    fast = tokens.rs_bpe_count("o200k_base")
    assert fast is not None
    counter = WordCounts(fast)
    text = " ".join(f"word{i}" for i in range(500)) + " " + "z" * 500
    assert counter(text) == fast(text) == counter(text)
    assert len(counter._after) == 50
    assert all(len(w) <= word_counts._MAX_WORD for w in counter._after)


def test_the_c_table_remembers_a_bounded_number_of_short_parts() -> None:
    """At most 2**17 parts of up to 65 characters (word_counts' bounds); past them, parts are counted, not kept."""
    fast = tokens.rs_bpe_count("o200k_base")
    assert fast is not None
    counter = _make("c", fast)
    text = " ".join(f"w{i}" for i in range(140_000)) + " " + "z" * 500
    assert counter(text) == fast(text) == counter(text)
    assert counter.remembered() == 1 << 17  # type: ignore[attr-defined]
    long_part = "a b " + "y" * 65 + " " + "y" * 64
    assert counter(long_part) == fast(long_part)
    assert counter.remembered() == 1 << 17  # type: ignore[attr-defined]


def test_the_c_table_keeps_only_short_parts_and_their_exact_strings() -> None:
    """Keys are the exact strings counted: a first word and the same word after a space are different parts."""
    seen: list[str] = []

    def count(text: str) -> int:
        seen.append(text)
        return len(text)

    counter = _make("c", count)
    assert counter("to be or not to be") == len("to be or not to be")
    assert seen == ["to", " be", " or", " not", " to"]  # " be" the second time came from the table
    assert counter("one two") == 7 and seen[-1] == "one two"  # fewer than two cuts: counted whole
    long_word = "x" * 66
    assert counter(f"a b {long_word} {long_word}") == len("a b") + 2 * 67
    assert seen[-2:] == [f" {long_word}", f" {long_word}"]  # 67 characters: counted each time, never kept


def test_the_c_table_passes_errors_on_and_takes_only_str() -> None:
    def broken(text: str) -> int:
        raise ValueError("tokenizer failed")

    counter = _make("c", broken)
    with pytest.raises(ValueError, match="tokenizer failed"):
        counter("a b c d")
    with pytest.raises(TypeError):
        counter(b"a b c")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        _make("c", "not callable")  # type: ignore[arg-type]
