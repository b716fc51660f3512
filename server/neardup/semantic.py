"""The semantic tier: embeddings (cached by content) in an index that answers "who is this close to?".

Similarity search never builds an N x N matrix: all pairs come from `pair_search` (exact block products for small
sets, a clustered search for large ones), and an edit asks one row against the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

from .cache import EmbeddingCache, content_key
from .embedding_models import load_model
from .forking import can_fork, in_two
from .pair_search import Cancelled, similar_pairs
from .rows import KeyedRows
from .static_embedder import StaticEmbedder

__all__ = ["Cancelled", "Embedder", "SemanticIndex"]

Progress = Callable[[int, int], None]
FORK_FROM = 20_000  # texts to embed (or rows to search) before a forked child takes half of the work


class Embedder:
    def __init__(self, model: str | None = None, cache: EmbeddingCache | None = None, batch_size: int | None = None):
        self.model, self.model_id, self.default_threshold, self.reference_mean = load_model(model)
        self.cache = cache
        # Texts per model call, between progress reports and cancel checks: ~0.3 s of work either way.
        self.batch_size = batch_size or (4096 if isinstance(self.model, StaticEmbedder) else 256)
        self.last_keys: list[bytes] = []  # content keys of the texts of the last `embed` call
        self._row: dict[bytes, int] = {}  # content key -> row of every vector embedded or read so far
        # Whether `embed` returns while its cache writes go on: the command line's whole-file pass lets them run on
        # beside the search's first steps (they finish before its fork, see `cache.settle_writers`, or when the
        # command is done) instead of waiting ~0.6 s for them at 100k examples.
        self.background_writes = False
        self._store = np.zeros((0, 0), dtype=np.float32)

    def embed(
        self,
        texts: list[str],
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
        processes: int = 1,
        keys: list[bytes] | None = None,
    ) -> np.ndarray:
        """Unit vectors for `texts`, from memory, then the disk cache, then the model (in batches, reporting).
        With `processes` 2 and many texts to embed by the default model, a forked child embeds half of them.
        `keys` are the texts' content keys when the caller has them already."""
        if keys is None:
            keys = [content_key(self.model_id, t) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._row]
        if missing and self.cache is not None:
            found, vectors = self.cache.get_matrix(missing, self._dim())
            self._keep(found, vectors)
            missing = [k for k in missing if k not in self._row]
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            done = len(texts) - len(missing)

            def encode(start: int, stop: int, report: bool) -> np.ndarray | None:
                """Embed missing[start:stop]; in this process keep and store each batch, in a child return all."""
                out = []
                for first in range(start, stop, self.batch_size):
                    if report and cancelled and cancelled():
                        raise Cancelled
                    chunk = missing[first : min(first + self.batch_size, stop)]
                    vectors = np.asarray(
                        self.model.encode(
                            [text_of[k] for k in chunk], normalize_embeddings=True, batch_size=self.batch_size
                        ),
                        dtype=np.float32,
                    )
                    if not report:
                        out.append(vectors)
                        continue
                    self._keep(chunk, vectors)
                    if self.cache is not None:
                        self.cache.put_matrix(chunk, vectors)
                    if progress:  # with a child at work too, its half is assumed to advance as fast
                        ahead = (first - start + len(chunk)) * len(missing) // (stop - start)
                        progress(min(len(texts) - 1, done + ahead), len(texts))
                return np.concatenate(out) if out else None

            half = len(missing) // 2
            if processes > 1 and half >= FORK_FROM // 2 and isinstance(self.model, StaticEmbedder) and can_fork():
                _, theirs = in_two(encode, (half, len(missing), True), (0, half, False))
                self._keep(missing[:half], theirs)
                if self.cache is not None:
                    self.cache.put_matrix(missing[:half], theirs)
            else:
                encode(0, len(missing), True)
            if self.cache is not None and not self.background_writes:
                self.cache.flush()
        self.last_keys = keys
        if progress:
            progress(len(texts), len(texts))
        if not keys:
            return np.zeros((0, 1), dtype=np.float32)
        return self._store[np.fromiter(map(self._row.__getitem__, keys), dtype=np.int64, count=len(keys))]

    def _dim(self) -> int | None:
        return self._store.shape[1] if len(self._row) else None

    def _keep(self, keys: list[bytes], vectors: np.ndarray) -> None:
        """Remember vectors by content key, in one growing matrix (no array object per vector)."""
        if not keys:
            return
        first = len(self._row)
        if first + len(keys) > self._store.shape[0] or self._store.shape[1] != vectors.shape[1]:
            grown = np.zeros((max(first + len(keys), 2 * self._store.shape[0]), vectors.shape[1]), dtype=np.float32)
            if first:
                grown[:first] = self._store[:first]
            self._store = grown
        self._store[first : first + len(keys)] = vectors
        self._row.update(zip(keys, range(first, first + len(keys))))


PRIOR_WEIGHT = 50  # how many examples' worth of weight the reference mean has against the file's own mean


class SemanticIndex(KeyedRows):
    """Unit vectors by caller id; rows are reused after removal.

    With a reference mean (static models), similarities are cosines of centred vectors: each vector minus a mean
    that blends the reference corpus's mean with the indexed examples' own (weighted by PRIOR_WEIGHT examples), so
    the common direction shared by all texts of one register no longer makes them look alike.
    """

    def __init__(self, reference_mean: np.ndarray | None = None) -> None:
        self.reference_mean = reference_mean
        self._centred: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        super().__init__()

    def set_many(self, keys: list[Hashable], vectors: np.ndarray) -> None:
        """`set` for many keys at once: new keys take fresh rows in one copy."""
        if not keys:
            return
        if self._matrix is None:
            self._matrix = np.zeros((max(1024, len(keys)), vectors.shape[1]), dtype=np.float32)
        appended = self._append_rows(keys)  # new keys only (a file read in chunks): rows appended in order
        if appended is not None:
            first, end = appended.start, appended.stop
            if end > self._matrix.shape[0]:
                grown = np.zeros((max(end, 2 * self._matrix.shape[0]), vectors.shape[1]), np.float32)
                grown[:first] = self._matrix[:first]
                self._matrix = grown
            self._matrix[first:end] = vectors
            self._centred = None
            return
        new = [k for k in dict.fromkeys(keys) if k not in self._row]
        fresh = len(new) - len(self._free)
        if fresh > 0:
            need = len(self._keys) + fresh
            if need > self._matrix.shape[0]:
                grown = np.zeros((max(need, self._matrix.shape[0] * 2), self._matrix.shape[1]), dtype=np.float32)
                grown[: self._matrix.shape[0]] = self._matrix
                self._matrix = grown
        for key in new:
            self._take_row(key)
        rows = np.fromiter((self._row[k] for k in keys), dtype=np.int64, count=len(keys))
        self._matrix[rows] = vectors
        self._centred = None

    def set(self, key: Hashable, vector: np.ndarray) -> None:
        if self._matrix is None:
            self._matrix = np.zeros((1024, vector.shape[0]), dtype=np.float32)
        row = self._row.get(key)
        if row is None:
            row = self._take_row(key)
            if row >= self._matrix.shape[0]:
                grown = np.zeros((self._matrix.shape[0] * 2, self._matrix.shape[1]), dtype=np.float32)
                grown[: self._matrix.shape[0]] = self._matrix
                self._matrix = grown
        self._matrix[row] = vector
        self._centred = None

    def remove(self, key: Hashable) -> None:
        row = self._free_row(key)
        if row is not None and self._matrix is not None:
            self._matrix[row] = 0.0
            self._centred = None

    def _compared(self) -> np.ndarray:
        """The matrix that similarities are taken on: raw unit vectors, or centred and renormalised ones."""
        assert self._matrix is not None
        used = self._matrix[: len(self._keys)]
        if self.reference_mean is None:
            return used
        if self._centred is None:
            n = len(self._row)
            own = used.sum(axis=0) / max(n, 1)  # free rows are zero
            mean = (n * own + PRIOR_WEIGHT * self.reference_mean) / (n + PRIOR_WEIGHT)
            centred = used - mean
            norms = np.linalg.norm(centred, axis=1, keepdims=True)
            centred /= np.maximum(norms, 1e-12)
            for row in self._free:
                centred[row] = 0.0
            self._centred = centred.astype(np.float32, copy=False)
        return self._centred

    def similarity(self, a: Hashable, b: Hashable) -> float:
        matrix = self._compared()
        return float(matrix[self._row[a]] @ matrix[self._row[b]])

    def neighbours(self, key: Hashable, threshold: float) -> list[tuple[Hashable, float]]:
        if self._matrix is None or key not in self._row:
            return []
        matrix = self._compared()
        sims = matrix @ matrix[self._row[key]]
        hits = np.nonzero(sims >= threshold)[0]
        return [(self._keys[i], float(sims[i])) for i in hits if self._keys[i] is not None and self._keys[i] != key]

    def all_pairs(
        self,
        threshold: float,
        cancelled: Callable[[], bool] | None = None,
        per_row: int = 8,
    ) -> list[tuple[Hashable, Hashable, float]]:
        """Pairs at or above `threshold`, each once: each row's most similar earlier row and up to `per_row` of its
        most similar later rows (see `pair_search`), so a big cluster of copies costs O(rows), not O(rows²)."""
        return self.keyed(*self.pair_rows(threshold, cancelled, per_row))

    def pair_rows(
        self, threshold: float, cancelled: Callable[[], bool] | None = None, per_row: int = 8, processes: int = 1
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`all_pairs` as row numbers (earlier, later) and cosines."""
        if self._matrix is None:
            return similar_pairs(np.zeros((0, 1), dtype=np.float32), threshold)
        return similar_pairs(self._compared(), threshold, per_row, cancelled, processes)

    def keyed(
        self, rows_a: np.ndarray, rows_b: np.ndarray, scores: np.ndarray
    ) -> list[tuple[Hashable, Hashable, float]]:
        keys = self._keys
        out = []
        for r, c, score in zip(rows_a.tolist(), rows_b.tolist(), scores.tolist(), strict=True):
            a, b = keys[r], keys[c]
            if a is not None and b is not None:
                out.append((a, b, score))
        return out

    def row_keys(self) -> list[Hashable | None]:
        """The key of each row (None for a free row), in row order."""
        return list(self._keys)
