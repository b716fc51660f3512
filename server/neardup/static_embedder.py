"""The default static model, run with the Rust tokenizer and numpy instead of sentence-transformers.

A static model's embedding is the mean of its tokens' rows in one weight matrix, normalised. sentence-transformers
(`StaticEmbedding`) computes exactly that, but importing it takes seconds (it pulls in transformers) and its
per-call work (Encoding objects with offsets, torch tensors) costs more than the arithmetic. This module loads
the same two files the model folder holds (`tokenizer.json`, `model.safetensors`) and gives the same vectors
(to float32 rounding; a test compares them with `SentenceTransformer.encode`), so cached embeddings and the
calibrated threshold stay valid.

Tokenising is where the time goes, so it has two paths:

- Printable-ASCII texts (most datasets) are split in Python the way BERT's normaliser and pre-tokeniser would:
  lowercase, then runs of letters and digits and single punctuation characters. Each distinct word is given to
  the Rust tokenizer once (WordPiece works word by word) and its ids are remembered, so a text costs one regex
  pass and dictionary look-ups, and stops at the model's 128-token truncation.
- Any other text goes through the Rust tokenizer whole, in batches on two Python threads: the tokenizer releases
  the GIL, and its own thread pool stays off (`TOKENIZERS_PARALLELISM=false`) because a process that later forks
  (`tuneline watch`, the analysis workers) must not hold a pool of Rust threads.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain
from pathlib import Path

import numpy as np

_OTHER = re.compile(r"[^\x20-\x7e\n]")  # a text outside the ASCII path: tabs, controls, anything non-ASCII
_WORD = re.compile(r"[a-z0-9]+|[^a-z0-9 \n]")  # BERT's pre-tokens of a lowercased printable-ASCII text
_MAX_WORDS = 500_000  # remembered words; past this the memory is cleared (a long-running language server)
_THREAD_BATCH = 512  # texts per tokenizer call on a worker thread
_LONG_TEXT = 2048  # characters of a long text scanned first for its leading words
_ASCII_BATCH = 2048  # texts split into words at a time (a word list per text is held meanwhile)


class StaticEmbedder:
    """Mean of token vectors, unit length: what `SentenceTransformer(folder).encode(texts,
    normalize_embeddings=True)` returns for a `StaticEmbedding` model folder."""

    def __init__(self, folder: Path) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        weights = load_file(str(folder / "model.safetensors"))
        self.weights = np.ascontiguousarray(weights["embedding.weight"], dtype=np.float32)
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        truncation = self.tokenizer.truncation
        self.max_tokens: int | None = truncation["max_length"] if truncation else None
        # Truncate by slicing ids instead: the tokenizer's truncation also builds overflow encodings, at a cost.
        self.tokenizer.no_truncation()
        self.tokenizer.no_padding()
        self._encode_batch = getattr(self.tokenizer, "encode_batch_fast", self.tokenizer.encode_batch)
        self._forget_words()

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.weights.shape[1])

    def encode(self, texts: Sequence[str], normalize_embeddings: bool = True, **_: object) -> np.ndarray:
        """Float32 embeddings, one row per text (keyword arguments as `SentenceTransformer.encode`)."""
        out = np.zeros((len(texts), self.weights.shape[1]), dtype=np.float32)
        other = [i for i, t in enumerate(texts) if _OTHER.search(t)]
        pool = None
        futures = []
        if other:  # on worker threads, while this thread does the ASCII texts
            pool = ThreadPoolExecutor(2, thread_name_prefix="tuneline-tokenize")
            for start in range(0, len(other), _THREAD_BATCH):
                rows = other[start : start + _THREAD_BATCH]
                futures.append((rows, pool.submit(self._rust_tokens, [texts[i] for i in rows])))
        try:
            if len(other) < len(texts):
                skip = set(other)
                rows = [i for i in range(len(texts)) if i not in skip] if skip else list(range(len(texts)))
                for start in range(0, len(rows), _ASCII_BATCH):
                    part = rows[start : start + _ASCII_BATCH]
                    out[part] = self._mean_vectors(*self._ascii_tokens([texts[i] for i in part]))
            for rows, future in futures:
                out[rows] = self._mean_vectors(*future.result())
        finally:
            if pool is not None:
                pool.shutdown(wait=True)  # no idle threads left behind in a process that may fork
        if normalize_embeddings:
            norms = np.linalg.norm(out, axis=1, keepdims=True)
            out /= np.maximum(norms, 1e-12)
        return out

    def token_ids(self, texts: Sequence[str]) -> list[list[int]]:
        """Each text's token ids (no special tokens, cut at the model's maximum length), by the path `encode`
        takes for it."""
        out = []
        for text in texts:
            flat, lengths = self._rust_tokens([text]) if _OTHER.search(text) else self._ascii_tokens([text])
            out.append(flat[: lengths[0]].tolist())
        return out

    # --- tokens: a flat id array and each text's number of ids ---------------------------------------------------
    def _rust_tokens(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        limit = self.max_tokens
        ids = [e.ids[:limit] if limit else e.ids for e in self._encode_batch(texts, add_special_tokens=False)]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        return np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum())), lengths

    def _ascii_tokens(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """BERT's normaliser on printable ASCII is lowercasing (a newline becomes a space); its pre-tokeniser
        splits at whitespace and isolates each punctuation character; WordPiece then works on each word alone, so
        a word's ids are looked up, and a text's ids are its words' ids in order, cut at the maximum length."""
        words_of = [self._words(t) for t in texts]
        words = list(chain.from_iterable(words_of))
        known = self._word_index
        if len(known) > _MAX_WORDS:
            self._forget_words()
            known = self._word_index
        self._learn([w for w in set(words) if w not in known])
        index = np.fromiter(map(known.__getitem__, words), dtype=np.int64, count=len(words))
        counts = np.fromiter(map(len, words_of), dtype=np.int64, count=len(words_of))
        text_of = np.repeat(np.arange(len(texts)), counts)
        pieces = self._piece_len[index]
        before = np.cumsum(pieces) - pieces  # each word's first id, counted over the whole batch
        if self.max_tokens is not None and len(words):
            first_word = np.cumsum(counts) - counts
            base = before[np.minimum(first_word, len(words) - 1)]  # texts without words have no words to cut
            room = self.max_tokens - (before - base[text_of])
            pieces = np.clip(room, 0, pieces)
        kept = np.cumsum(pieces)
        total = int(kept[-1]) if len(kept) else 0
        starts = np.repeat(self._piece_start[index] - (kept - pieces), pieces)
        flat = self._pieces[starts + np.arange(total)]
        lengths = np.bincount(text_of, weights=pieces, minlength=len(texts)).astype(np.int64)
        return flat, lengths

    def _words(self, text: str) -> list[str]:
        """The text's pre-tokens; of a long text, only as many leading words as can give the kept ids (each word
        gives at least one id), so the rest of it is never scanned."""
        limit = self.max_tokens
        if limit is None or len(text) <= _LONG_TEXT:
            return _WORD.findall(text.lower())
        words = _WORD.findall(text[:_LONG_TEXT].lower())
        if len(words) > limit:  # the cut can split only the last word
            return words[:limit]
        return _WORD.findall(text.lower())

    def _learn(self, words: list[str]) -> None:
        """Remember the WordPiece ids of words not seen before."""
        for start in range(0, len(words), 8192):
            chunk = words[start : start + 8192]
            encodings = self._encode_batch(chunk, add_special_tokens=False)
            ids = [e.ids for e in encodings]
            lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
            first = len(self._word_index)
            self._grow(first + len(chunk), self._used_pieces + int(lengths.sum()))
            self._piece_len[first : first + len(chunk)] = lengths
            self._piece_start[first : first + len(chunk)] = self._used_pieces + np.cumsum(lengths) - lengths
            flat = np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum()))
            self._pieces[self._used_pieces : self._used_pieces + len(flat)] = flat
            self._used_pieces += len(flat)
            self._word_index.update(zip(chunk, range(first, first + len(chunk))))

    def _grow(self, words: int, pieces: int) -> None:
        if words > len(self._piece_len):
            size = max(words, 2 * len(self._piece_len))
            self._piece_len = np.resize(self._piece_len, size)
            self._piece_start = np.resize(self._piece_start, size)
        if pieces > len(self._pieces):
            self._pieces = np.resize(self._pieces, max(pieces, 2 * len(self._pieces)))

    def _forget_words(self) -> None:
        self._word_index: dict[str, int] = {}
        self._piece_len = np.zeros(4096, dtype=np.int64)
        self._piece_start = np.zeros(4096, dtype=np.int64)
        self._pieces = np.zeros(8192, dtype=np.int64)
        self._used_pieces = 0

    # --- vectors -------------------------------------------------------------------------------------------------
    def _mean_vectors(self, flat: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        """Mean of each text's token rows (zero for a text without tokens): a sparse count matrix times the
        weights, which sums without gathering the rows."""
        from scipy.sparse import csr_matrix

        indptr = np.zeros(len(lengths) + 1, dtype=np.int64)
        np.cumsum(lengths, out=indptr[1:])
        counts = csr_matrix(
            (np.ones(len(flat), dtype=np.float32), flat, indptr), shape=(len(lengths), self.weights.shape[0])
        )
        sums = np.asarray(counts @ self.weights, dtype=np.float32)
        sums /= np.maximum(lengths, 1)[:, None].astype(np.float32)
        return sums
