"""The C MinHash walk (minhash.c) gives the numpy reference's signatures bit for bit, and is used where built.

Its values must be the reference's: the lexical tier's pairs may not depend on whether a machine has a compiler.
Held equal on the planted examples, every string of the examples and the shared corpus, and fuzzed printable
ASCII built to reach each rule (sentence ends with and without following space, words of 1-40 characters across
the 8-byte chunks, digit words, underscores, upper case, newlines); texts outside printable ASCII are left to the
reference by the walk and must come back from it.
"""

from __future__ import annotations

import os
import random
import string

import numpy as np
import pytest

from tests.analysis.test_rs_bpe_counts import _corpus_strings
from tuneline.analysis import native
from tuneline.neardup import lexical
from tuneline.neardup.lexical import NUM_PERM, LexicalIndex

from .test_word_scan import sample

needs_c = pytest.mark.skipif(lexical._compiled is None, reason="the compiled engine is not built")


def _fuzzed(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    pieces = [".", "!", "?", ". ", "! ", "? ", ".\n", "\n", "\n\n", " ", "  ", ",", "_", "-", "'", "~"]
    out = []
    for _ in range(count):
        parts = []
        for _ in range(rng.randint(0, 60)):
            kind = rng.random()
            if kind < 0.55:
                alphabet = string.ascii_letters if rng.random() < 0.8 else string.ascii_letters + string.digits + "_"
                parts.append("".join(rng.choice(alphabet) for _ in range(rng.choice([1, 2, 3, 7, 8, 9, 16, 17, 40]))))
            elif kind < 0.65:
                parts.append(str(rng.randint(0, 10 ** rng.randint(1, 12))))
            else:
                parts.append(rng.choice(pieces))
        out.append("".join(parts))
    return out


def _corpus_sample() -> list[str]:
    """Every whole file of the examples and the corpus (long, every kind of line) and a fifth of their strings."""
    strings = _corpus_strings()
    return [s for s in strings if len(s) > 10_000] + strings[::5]


def _reference(texts: list[str]):
    return LexicalIndex()._signatures(texts)


@needs_c
@pytest.mark.parametrize("source", ["planted", "corpus", "fuzzed"])
def test_the_walk_gives_the_reference_signatures(source: str) -> None:
    texts = {"planted": sample, "corpus": _corpus_sample, "fuzzed": lambda: _fuzzed(1500, 7)}[source]()
    sigs, has = LexicalIndex()._compiled_signatures(texts)
    want_sigs, want_has = _reference(texts)
    assert sigs.dtype == np.uint32 and sigs.shape == (len(texts), NUM_PERM)
    assert np.array_equal(has, want_has)
    assert np.array_equal(sigs, want_sigs)
    if source == "fuzzed":  # the fuzz reached every kind of text the walk tells apart
        assert has.any() and not has.all()


@needs_c
def test_two_threads_and_texts_left_to_the_reference_give_the_same_signatures() -> None:
    """A batch big enough for two threads, with non-ASCII, tab and carriage-return texts spread through it."""
    texts = _fuzzed(lexical.THREADS_FROM + 500, 11)
    for i in range(0, len(texts), 97):
        texts[i] = texts[i] + rng_odd(i)
    sigs, has = LexicalIndex()._compiled_signatures(texts)
    want_sigs, want_has = _reference(texts)
    assert np.array_equal(has, want_has) and np.array_equal(sigs, want_sigs)


def rng_odd(i: int) -> str:
    return ["  café déjà vu. Über", "\tTabbed words here", "line\r\nends", " 😀 emoji text", "\x7f"][i % 5]


@needs_c
def test_the_index_finds_the_same_pairs_with_the_walk_and_without(monkeypatch: pytest.MonkeyPatch) -> None:
    texts = [*_fuzzed(300, 3), *sample()]
    texts += [t + " extra" for t in texts[:50]]  # near copies
    with_c = LexicalIndex()
    with_c.add_many(enumerate(texts))
    monkeypatch.setattr(lexical, "_compiled", None)
    without = LexicalIndex()
    without.add_many(enumerate(texts))
    assert with_c.pairs() == without.pairs() and len(with_c.pairs()) >= 20


def test_the_walk_is_used_where_the_compiled_engine_is() -> None:
    if native.in_use() or os.environ.get("TUNELINE_EXPECT_NATIVE") == "1":
        assert lexical._compiled is not None
    else:
        assert lexical._compiled is None


@needs_c
def test_bad_arguments_are_errors_not_crashes() -> None:
    index = LexicalIndex()
    sigs = np.empty((2, NUM_PERM), dtype=np.uint32)
    states = np.empty(2, dtype=np.uint8)
    masked = int(index._masked)
    with pytest.raises(TypeError):
        lexical._compiled(["a", b"b"], masked, index._perm_a, index._perm_b, sigs, states)
    with pytest.raises(TypeError):
        lexical._compiled(("a", "b"), masked, index._perm_a, index._perm_b, sigs, states)
    with pytest.raises(ValueError):
        lexical._compiled(["a", "b", "c"], masked, index._perm_a, index._perm_b, sigs, states)
    with pytest.raises(ValueError):
        lexical._compiled(["a", "b"], masked, index._perm_a[:8], index._perm_b, sigs, states)
    with pytest.raises(TypeError):  # a read-only output
        lexical._compiled(["a", "b"], masked, index._perm_a, index._perm_b, bytes(sigs.nbytes), states)


@needs_c
def test_band_keys_are_the_numpy_references() -> None:
    index = LexicalIndex()
    rng = np.random.default_rng(4)
    sigs = rng.integers(0, 2**32, (5000, NUM_PERM), dtype=np.uint32)
    sigs[:10] = 0xFFFFFFFF  # texts without a shingle
    for part in (sigs, sigs[:1], sigs[:0], sigs[::3]):  # a strided slice is made contiguous first
        assert np.array_equal(index._band_keys(part), index._numpy_band_keys(part))
    with pytest.raises(ValueError):
        lexical._compiled_band_keys(sigs, index._band_mix[:3], np.empty((5000, 16), dtype=np.uint64))
    with pytest.raises(ValueError):
        lexical._compiled_band_keys(sigs, index._band_mix, np.empty((5000, 8), dtype=np.uint64))
    with pytest.raises(TypeError):
        lexical._compiled_band_keys(sigs, index._band_mix, bytes(5000 * 16 * 8))
