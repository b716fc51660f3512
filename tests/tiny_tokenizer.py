"""A tiny byte-level BPE tokenizer with ChatML's special tokens, trained in the test on the given texts: offline,
in milliseconds, and real enough that `transformers` loads it and applies chat templates with it."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


def train_tiny_bpe(texts: Iterable[str], vocab_size: int) -> Any:
    """A `tokenizers.Tokenizer` (the Rust library's) trained on `texts`."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return tok
