"""The C word-id table (word_ids.c) gives the numpy path's token ids exactly, and is used where built.

The static model's vectors, and so the cached embeddings and the calibrated threshold, must not depend on whether
a machine has a compiler: held equal on the planted examples, every printable-ASCII string of the examples and the
shared corpus, and fuzzed text (long and short texts around the 128-token cut, words of every length, punctuation
runs, newlines), with and without the cut, and through the bounded memory's clearing.
"""

from __future__ import annotations

import os
import random
import string

import numpy as np
import pytest

from tests.analysis.test_rs_bpe_counts import _corpus_strings
from tuneline.analysis import native
from tuneline.neardup import static_embedder
from tuneline.neardup.embedding_models import semantic_available, static_model_dir
from tuneline.neardup.static_embedder import StaticEmbedder
from tuneline.neardup.word_scan import plain_ascii

from .test_static_embedder import texts

pytestmark = [
    pytest.mark.skipif(not semantic_available(), reason="the embed extra is not installed"),
    pytest.mark.skipif(static_embedder.WordIds is None, reason="the compiled engine is not built"),
]


def _fuzzed(count: int, seed: int) -> list[str]:
    rng = random.Random(seed)
    alphabet = string.ascii_letters + string.digits + string.punctuation + "\n" + " " * 12
    out = []
    for _ in range(count):
        size = rng.choice([0, 1, 5, 40, 300, 2040, 2060, 5000])
        out.append("".join(rng.choice(alphabet) for _ in range(size)))
    words = ["refund", "un", "believable", "x" * 101, "a1b2", "don't", "--", "e.g."]
    out += [" ".join(rng.choice(words) for _ in range(rng.randint(1, 300))) for _ in range(count // 2)]
    return out


def _pair() -> tuple[StaticEmbedder, StaticEmbedder]:
    compiled = StaticEmbedder(static_model_dir())
    reference = StaticEmbedder(static_model_dir())
    reference._compiled = None
    return compiled, reference


def _same_ids(compiled: StaticEmbedder, reference: StaticEmbedder, sample: list[str]) -> None:
    flat, lengths = compiled._ascii_tokens(sample)
    want_flat, want_lengths = reference._ascii_tokens(sample)
    assert flat.dtype == np.int64 and lengths.dtype == np.int64
    assert np.array_equal(lengths, want_lengths)
    assert np.array_equal(flat, want_flat)


@pytest.mark.parametrize("source", ["planted", "corpus", "fuzzed"])
def test_the_table_gives_the_numpy_ids(source: str) -> None:
    sample = {"planted": texts, "corpus": _corpus_strings, "fuzzed": lambda: _fuzzed(400, 5)}[source]()
    sample = [t for t in sample if plain_ascii(t)]
    compiled, reference = _pair()
    _same_ids(compiled, reference, sample)
    _same_ids(compiled, reference, sample[::-1])  # again, every word known now
    if source == "fuzzed":  # some texts were cut at the model's limit, some were not
        lengths = compiled._ascii_tokens(sample)[1]
        assert (lengths == compiled.max_tokens).any() and (lengths < compiled.max_tokens).any()


def test_without_a_cut_and_through_the_memory_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    sample = _fuzzed(200, 9)
    compiled, reference = _pair()
    compiled.max_tokens = reference.max_tokens = None
    _same_ids(compiled, reference, sample)
    monkeypatch.setattr(static_embedder, "_MAX_WORDS", 10)
    _same_ids(compiled, reference, sample)  # cleared before each batch, learned again
    assert np.array_equal(compiled.encode(sample), reference.encode(sample))


def test_the_table_is_used_where_the_compiled_engine_is() -> None:
    if native.in_use() or os.environ.get("TUNELINE_EXPECT_NATIVE") == "1":
        assert static_embedder.WordIds is not None
        assert StaticEmbedder(static_model_dir())._compiled is not None


def test_bad_arguments_are_errors_not_crashes() -> None:
    table = static_embedder.WordIds()
    with pytest.raises(ValueError):
        table.missing(["tab\there"], 128)
    with pytest.raises(TypeError):
        table.missing([b"bytes"], 128)
    with pytest.raises(TypeError):
        table.ids(("not", "a list"), 128)
    with pytest.raises(KeyError):  # ids of a word never learnt
        table.ids(["hello"], 128)
    ((key, word),) = table.missing(["hello hello"], 128)
    assert word == "hello"
    ids = np.array([7592], dtype=np.int64)
    with pytest.raises(ValueError):  # the lengths do not add up
        table.add([key], np.array([2], dtype=np.int64), ids)
    with pytest.raises(ValueError):
        table.add([key], np.array([-1], dtype=np.int64), ids)
    with pytest.raises(ValueError):
        table.add([key], np.array([1], dtype=np.int64), np.array([-5], dtype=np.int64))
    table.add([key], np.array([1], dtype=np.int64), ids)
    flat, lengths = table.ids(["hello hello hello"], 2)
    assert np.frombuffer(flat, dtype=np.int64).tolist() == [7592, 7592]
    assert np.frombuffer(lengths, dtype=np.int64).tolist() == [2]
    assert len(table) == 1 and table.missing(["HELLO"], 128) == []
    table.clear()
    assert len(table) == 0 and [w for _, w in table.missing(["HELLO"], 128)] == ["hello"]
