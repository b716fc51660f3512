"""The default model without sentence-transformers gives sentence-transformers' vectors, for every kind of text."""

from __future__ import annotations

import numpy as np
import pytest

from tuneline.neardup.embedding_models import load_model, semantic_available, static_model_dir
from tuneline.neardup.static_embedder import StaticEmbedder
from tuneline.neardup.texts import example_text

from .planted import NUMBERS, PARAPHRASE, REORDERED, SUPPORT

pytestmark = pytest.mark.skipif(not semantic_available(), reason="the embed extra is not installed")

ODD = [
    "",
    " ",
    "Hello, World! MiXeD CaSe 12345 abc123def ##ing don't stop---now...",
    "a\nb\n\nc",
    "x" * 99 + " " + "y" * 101,  # WordPiece gives up on a word over 100 characters
    "refund " * 400,  # over the 128-token truncation, over the long-text cut
    "supercalifragilistic" * 150 + " tail",  # past the cut, yet one word: fewer ids than the limit
    ("word " * 500)[:2051] + "extraordinarily long",  # the cut falls inside a word
    "tab\there ctrl\x01char del\x7fchar",  # ASCII outside the fast path
    "Ünïcödé café naïve 東京 tower €100 ß straße İstanbul Ǆ",
    "emoji 🎉 ok \u00a0nbsp zero\u200bwidth \ufffdreplacement",
    "[images: 1a2b3c4d5e6f]\nWhat is in the picture?",
]


def texts() -> list[str]:
    return [t for line in [*SUPPORT, PARAPHRASE, REORDERED, NUMBERS] if (t := example_text(line))] + ODD


def test_vectors_equal_sentence_transformers_encode():
    from sentence_transformers import SentenceTransformer

    model, *_ = load_model(None)
    assert isinstance(model, StaticEmbedder)
    reference = SentenceTransformer(str(static_model_dir()), device="cpu")
    sample = texts()
    got = model.encode(sample)
    want = reference.encode(sample, normalize_embeddings=True)
    assert got.dtype == np.float32 and got.shape == want.shape
    assert np.abs(got - want).max() < 1e-6
    # Each path gives the Rust tokenizer's own ids (truncated as the model folder says).
    tokenizer = reference[0].tokenizer
    expected = [e.ids for e in tokenizer.encode_batch(sample, add_special_tokens=False)]
    assert model.token_ids(sample) == expected
    assert max(map(len, expected)) == model.max_tokens == 128


def test_repeated_words_are_looked_up_and_the_memory_is_bounded(monkeypatch):
    from tuneline.neardup import static_embedder

    model = StaticEmbedder(static_model_dir())
    first = model.encode(texts())
    monkeypatch.setattr(static_embedder, "_MAX_WORDS", 10)
    again = model.encode(texts())  # the remembered words are forgotten and learned again
    assert np.array_equal(first, again)
    remembered = len(model._compiled) if model._compiled is not None else len(model._word_index)
    assert 0 < remembered < 5_000
