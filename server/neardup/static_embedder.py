"""The default static model, run with the Rust tokenizer and numpy instead of sentence-transformers.

A static model's embedding is the mean of its tokens' rows in one weight matrix, normalised. sentence-transformers
(`StaticEmbedding`) computes exactly that, but importing it takes seconds (it pulls in transformers) and its
per-call work (Encoding objects with offsets, torch tensors) costs more than the arithmetic. This module loads
the same two files the model folder holds (`tokenizer.json`, `model.safetensors`) and gives the same vectors
(to float32 rounding; a test compares them with `SentenceTransformer.encode`), so cached embeddings and the
calibrated threshold stay valid.

Tokenising is where the time goes, so it has two paths:

- Printable-ASCII texts (most datasets) are split the way BERT's normaliser and pre-tokeniser would: lowercase,
  then runs of letters and digits and single punctuation characters. Each distinct word is given to the Rust
  tokenizer once (WordPiece works word by word) and its ids are remembered, so a text costs a walk and look-ups,
  and stops at the model's 128-token truncation. Where the compiled engine is built the walk and the table are C
  (`word_ids.c`); otherwise numpy (`word_scan`) and a dictionary, the reference the C is held equal to.
- Any other text goes through the Rust tokenizer whole, in batches on two Python threads: the tokenizer releases
  the GIL, and its own thread pool stays off (`TOKENIZERS_PARALLELISM=false`) because a process that later forks
  (`tuneline watch`, the analysis workers) must not hold a pool of Rust threads.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from itertools import chain, repeat
from pathlib import Path

import numpy as np

from .word_scan import Words, plain_ascii, scan

try:  # word_ids.c, built with the compiled engine (native_build); `_ascii_tokens`' numpy path is its reference
    from ._word_ids import WordIds  # type: ignore[import-not-found]
except ImportError:
    WordIds = None

_MAX_WORDS = 500_000  # remembered words; past this the memory is cleared (a long-running language server)
_THREAD_BATCH = 512  # texts per tokenizer call on a worker thread
_LONG_TEXT = 2048  # characters of a long text scanned first for its leading words
_ASCII_BATCH = 2048  # texts split into words at a time (a word list per text is held meanwhile)


def without_surrogates(text: str) -> str:
    """`text` with each lone surrogate as U+FFFD, the replacement character a UTF-8 decoder would give it."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")
    return text


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
        self._compiled = WordIds() if WordIds is not None else None
        self._forget_words()

    def get_sentence_embedding_dimension(self) -> int:
        return int(self.weights.shape[1])

    def encode(self, texts: Sequence[str], normalize_embeddings: bool = True, **_: object) -> np.ndarray:
        """Float32 embeddings, one row per text (keyword arguments as `SentenceTransformer.encode`)."""
        out = np.zeros((len(texts), self.weights.shape[1]), dtype=np.float32)
        other = [i for i, t in enumerate(texts) if not plain_ascii(t)]  # tabs, controls, anything non-ASCII
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
            flat, lengths = self._ascii_tokens([text]) if plain_ascii(text) else self._rust_tokens([text])
            out.append(flat[: lengths[0]].tolist())
        return out

    # --- tokens: a flat id array and each text's number of ids ---------------------------------------------------
    def _rust_tokens(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        limit = self.max_tokens
        try:
            encoded = self._encode_batch(texts, add_special_tokens=False)
        except TypeError:  # a lone surrogate (a JSON "\ud800" escape): the Rust tokenizer takes UTF-8 text only
            encoded = self._encode_batch([without_surrogates(t) for t in texts], add_special_tokens=False)
        ids = [e.ids[:limit] if limit else e.ids for e in encoded]
        lengths = np.fromiter(map(len, ids), dtype=np.int64, count=len(ids))
        return np.fromiter(chain.from_iterable(ids), dtype=np.int64, count=int(lengths.sum())), lengths

    def _ascii_tokens(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """BERT's normaliser on printable ASCII is lowercasing (a newline becomes a space); its pre-tokeniser
        splits at whitespace and isolates each punctuation character; WordPiece then works on each word alone, so
        a word's ids are looked up (by the hash of its bytes), and a text's ids are its words' ids in order, cut at
        the maximum length."""
        if self._compiled is not None:
            return self._compiled_tokens(texts)
        limit = self.max_tokens
        cut = [t[:_LONG_TEXT] if limit is not None and len(t) > _LONG_TEXT else t for t in texts]
        words, _ = scan(cut, bert=True)
        if limit is not None:
            counts = np.bincount(words.owner, minlength=len(texts))
            short = [i for i in np.flatnonzero(counts <= limit).tolist() if cut[i] is not texts[i]]
            if short:  # cut texts with too few words to fill the ids: the whole text after all
                for i in short:
                    cut[i] = texts[i]
                words, _ = scan(cut, bert=True)
            first = np.searchsorted(words.owner, np.arange(len(texts)))
            rank = np.arange(len(words.owner)) - first[words.owner]
            keep = np.flatnonzero(rank < limit)  # each word gives an id at least; a cut word is never reached
            words = Words(words.data, words.owner[keep], words.start[keep], words.end[keep], words.hash[keep])
        index = self._indices(words)
        text_of = words.owner
        pieces = self._piece_len[index]
        before = np.cumsum(pieces) - pieces  # each word's first id, counted over the whole batch
        if limit is not None and len(index):
            first_word = np.searchsorted(text_of, np.arange(len(texts)))
            base = before[np.minimum(first_word, len(index) - 1)]  # texts without words have no words to cut
            pieces = np.clip(limit - (before - base[text_of]), 0, pieces)
        kept = np.cumsum(pieces)
        total = int(kept[-1]) if len(kept) else 0
        starts = np.repeat(self._piece_start[index] - (kept - pieces), pieces)
        flat = self._pieces[starts + np.arange(total)]
        lengths = np.bincount(text_of, weights=pieces, minlength=len(texts)).astype(np.int64)
        return flat, lengths

    def _compiled_tokens(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """`_ascii_tokens` from word_ids.c: one walk a text to find the words not known yet, which the tokenizer
        gives ids to, and one to gather the ids (the numpy path's dozen passes and per-word dictionary look-ups
        were most of the embedding time)."""
        table = self._compiled
        assert table is not None
        if len(table) > _MAX_WORDS:
            self._forget_words()
        limit = -1 if self.max_tokens is None else self.max_tokens
        self._learn_compiled(table.missing(texts, limit))
        try:
            flat, lengths = table.ids(texts, limit)
        except KeyError:  # a word without ids (none is known) let a text's ids reach past its first `limit` words
            self._learn_compiled(table.missing(texts, -1))
            flat, lengths = table.ids(texts, limit)
        return np.frombuffer(flat, dtype=np.int64), np.frombuffer(lengths, dtype=np.int64)

    def _learn_compiled(self, new: list[tuple[int, str]]) -> None:
        assert self._compiled is not None
        for start in range(0, len(new), 50_000):
            chunk = new[start : start + 50_000]
            ids, lengths = self._wordpieces([word for _, word in chunk])
            self._compiled.add([hash_ for hash_, _ in chunk], lengths, ids)

    def _wordpieces(self, words: list[str]) -> tuple[np.ndarray, np.ndarray]:
        """The WordPiece ids of distinct words, and how many each has: one tokenizer call, the words joined by
        spaces (each is one pre-token, so the tokens' word numbers say which word they came from)."""
        encoding = self.tokenizer.encode(" ".join(words), add_special_tokens=False)
        ids = np.asarray(encoding.ids, dtype=np.int64)
        owner = np.asarray(encoding.word_ids, dtype=np.int64)
        return ids, np.bincount(owner, minlength=len(words)).astype(np.int64)

    def _indices(self, words: Words) -> np.ndarray:
        """Each word's row in the remembered WordPiece ids, learning the words not seen before."""
        if len(self._word_index) > _MAX_WORDS:
            self._forget_words()
        known = self._word_index
        hashes = words.hash.tolist()
        index = np.fromiter(map(known.get, hashes, repeat(-1)), dtype=np.int64, count=len(hashes))
        new = np.flatnonzero(index < 0)
        if len(new):
            positions = new.tolist()
            first_of = dict(zip((hashes[i] for i in positions), positions))  # one occurrence of each new word
            self._learn(list(first_of), [words.text(i) for i in first_of.values()])
            index[new] = [known[hashes[i]] for i in positions]
        return index

    def _learn(self, hashes: list[int], words: list[str]) -> None:
        """Remember the WordPiece ids of words not seen before: one tokenizer call per 50,000 words, joined by
        spaces (each is one pre-token, so the tokens' word numbers say which word they came from)."""
        for start in range(0, len(words), 50_000):
            chunk = words[start : start + 50_000]
            ids, lengths = self._wordpieces(chunk)
            first = len(self._word_index)
            self._grow(first + len(chunk), self._used_pieces + len(ids))
            self._piece_len[first : first + len(chunk)] = lengths
            self._piece_start[first : first + len(chunk)] = self._used_pieces + np.cumsum(lengths) - lengths
            self._pieces[self._used_pieces : self._used_pieces + len(ids)] = ids
            self._used_pieces += len(ids)
            self._word_index.update(zip(hashes[start : start + 50_000], range(first, first + len(chunk))))

    def _grow(self, words: int, pieces: int) -> None:
        if words > len(self._piece_len):
            size = max(words, 2 * len(self._piece_len))
            self._piece_len = np.resize(self._piece_len, size)
            self._piece_start = np.resize(self._piece_start, size)
        if pieces > len(self._pieces):
            self._pieces = np.resize(self._pieces, max(pieces, 2 * len(self._pieces)))

    def _forget_words(self) -> None:
        if self._compiled is not None:
            self._compiled.clear()
        self._word_index: dict[int, int] = {}  # word hash -> row of its WordPiece ids
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
