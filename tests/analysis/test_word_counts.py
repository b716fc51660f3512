"""Counting a text as the sum of its words' counts gives tiktoken's count, whatever the text (#14).

Why: `exact_counter` sums the counts of the parts a text's single spaces cut it into, each part counted once per
process (`word_counts`). The argument that this is exact rests on the encodings' patterns; these tests hold it to
tiktoken on every string of the examples and the corpus, counted by one counter so that later strings take earlier
words' counts, on fuzzed text made of the pieces that stress the pattern (every kind of space, line breaks,
contractions, marks, surrogates), and on inputs that would be slow if joining parts were not linear.
"""

from __future__ import annotations

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tuneline.analysis import tokens, word_counts
from tuneline.analysis.word_counts import WordCounts

from .test_rs_bpe_counts import ENCODINGS, PIECES, _corpus_strings, _tiktoken_count

# Around spaces, the pattern's alternatives that start or end there: words with a prefix character, punctuation
# runs with a leading space, runs of white space with and without a line break, contractions right after a space.
SPACED = [*PIECES, " ", " ", " a", " A", "a ", " 's", " '", "' ", " .", ". ", " \n", "\n ", "\t ", " \t", "\u00a0 ",
          " \u3000", "\x1c ", " \x1f", " \u0301", "\u0301 ", " 1", "1 ", " \ud800", "\ud800 ", " 😀", "x"]  # fmt: skip
_SHARED = {name: tokens.exact_counter(name) for name in ENCODINGS}  # one counter each, warm across examples


def test_the_exact_counter_sums_words_for_the_encodings_it_may() -> None:
    assert all(isinstance(_SHARED[name], WordCounts) for name in ENCODINGS)
    assert set(ENCODINGS) == word_counts.ENCODINGS


@pytest.mark.parametrize("name", ENCODINGS)
def test_every_corpus_string_counts_as_tiktoken_counts_it(name: str) -> None:
    counter = WordCounts(tokens.exact_counter(name)._count)  # type: ignore[attr-defined]
    strings = _corpus_strings()
    assert len(strings) > 1_000
    differ = [s[:60] for s in strings if counter(s) != _tiktoken_count(name, s)]
    assert differ == []
    assert len(counter._after) > 1_000  # later strings were counted from words seen before


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(SPACED), max_size=60).map("".join))
def test_fuzzed_spaced_text_counts_as_tiktoken_counts_it(name: str, text: str) -> None:
    assert _SHARED[name](text) == _tiktoken_count(name, text)


@pytest.mark.parametrize("name", ENCODINGS)
@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), max_size=30).map(" ".join))
def test_fuzzed_words_between_single_spaces_count_as_tiktoken_counts_them(name: str, text: str) -> None:
    assert _SHARED[name](text) == _tiktoken_count(name, text)


@pytest.mark.parametrize("text", [" " * 400_000, "a " * 200_000, "a  " * 150_000, "\n " * 200_000, "x\t " * 150_000])
def test_long_runs_of_spaces_are_counted_in_linear_time(text: str) -> None:
    """A space that does not cut joins its neighbours: joined once per part, never one concatenation per space
    (a megabyte of spaces would take minutes)."""
    fast = tokens.rs_bpe_count("o200k_base")
    assert fast is not None
    counter = WordCounts(fast)
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
