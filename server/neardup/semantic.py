"""The semantic tier: embeddings (cached by content) in an index that answers "who is this close to?".

Similarity search never builds an N x N matrix: all pairs are found block by block (1,024 rows at a time against
the whole matrix), and an edit asks one row against the rest.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable

import numpy as np

from .cache import EmbeddingCache, content_key
from .embedding_models import load_model

Progress = Callable[[int, int], None]


class Cancelled(Exception):
    """The caller asked to stop (an editor's cancel button)."""


class Embedder:
    def __init__(self, model: str | None = None, cache: EmbeddingCache | None = None, batch_size: int = 256):
        self.model, self.model_id, self.default_threshold, self.reference_mean = load_model(model)
        self.cache = cache
        self.batch_size = batch_size
        self._memory: dict[bytes, np.ndarray] = {}

    def embed(
        self, texts: list[str], progress: Progress | None = None, cancelled: Callable[[], bool] | None = None
    ) -> np.ndarray:
        """Unit vectors for `texts`, from memory, then the disk cache, then the model (in batches, reporting)."""
        keys = [content_key(self.model_id, t) for t in texts]
        missing = [k for k in dict.fromkeys(keys) if k not in self._memory]
        if missing and self.cache is not None:
            self._memory.update(self.cache.get_many(missing))
            missing = [k for k in missing if k not in self._memory]
        if missing:
            text_of = dict(zip(keys, texts, strict=True))
            done = len(texts) - len(missing)
            for start in range(0, len(missing), self.batch_size):
                if cancelled and cancelled():
                    raise Cancelled
                chunk = missing[start : start + self.batch_size]
                vectors = self.model.encode(
                    [text_of[k] for k in chunk], normalize_embeddings=True, batch_size=self.batch_size
                )
                fresh = dict(zip(chunk, np.asarray(vectors, dtype=np.float32), strict=True))
                self._memory.update(fresh)
                if self.cache is not None:
                    self.cache.put_many(fresh)
                if progress:
                    progress(min(len(texts), done + start + len(chunk)), len(texts))
        if progress and not missing:
            progress(len(texts), len(texts))
        if not keys:
            return np.zeros((0, 1), dtype=np.float32)
        return np.stack([self._memory[k] for k in keys])


PRIOR_WEIGHT = 50  # how many examples' worth of weight the reference mean has against the file's own mean


class SemanticIndex:
    """Unit vectors by caller id; rows are reused after removal.

    With a reference mean (static models), similarities are cosines of centred vectors: each vector minus a mean
    that blends the reference corpus's mean with the indexed examples' own (weighted by PRIOR_WEIGHT examples), so
    the common direction shared by all texts of one register no longer makes them look alike.
    """

    def __init__(self, reference_mean: np.ndarray | None = None) -> None:
        self.reference_mean = reference_mean
        self._centred: np.ndarray | None = None
        self._matrix: np.ndarray | None = None
        self._keys: list[Hashable | None] = []
        self._row: dict[Hashable, int] = {}
        self._free: list[int] = []

    def __len__(self) -> int:
        return len(self._row)

    def set(self, key: Hashable, vector: np.ndarray) -> None:
        if self._matrix is None:
            self._matrix = np.zeros((1024, vector.shape[0]), dtype=np.float32)
        row = self._row.get(key)
        if row is None:
            if self._free:
                row = self._free.pop()
            else:
                row = len(self._keys)
                self._keys.append(None)
                if row >= self._matrix.shape[0]:
                    grown = np.zeros((self._matrix.shape[0] * 2, self._matrix.shape[1]), dtype=np.float32)
                    grown[: self._matrix.shape[0]] = self._matrix
                    self._matrix = grown
            self._row[key] = row
            self._keys[row] = key
        self._matrix[row] = vector
        self._centred = None

    def remove(self, key: Hashable) -> None:
        row = self._row.pop(key, None)
        if row is not None and self._matrix is not None:
            self._matrix[row] = 0.0
            self._keys[row] = None
            self._free.append(row)
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
            self._centred = centred.astype(np.float32)
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
        block: int = 1024,
        cancelled: Callable[[], bool] | None = None,
        per_row: int = 8,
    ) -> list[tuple[Hashable, Hashable, float]]:
        """Pairs at or above `threshold`, each once. A row keeps its `per_row` most similar later rows, so a big
        cluster of copies costs O(rows), not O(rows²), and every member still gets a partner."""
        if self._matrix is None:
            return []
        matrix = self._compared()
        used = matrix.shape[0]
        keys = self._keys
        out = []
        for start in range(0, used, block):
            if cancelled and cancelled():
                raise Cancelled
            sims = matrix[start : start + block] @ matrix[start:].T  # only the upper triangle's columns
            sims[np.tril_indices(sims.shape[0], 0, sims.shape[1])] = -1.0  # a row against itself and earlier rows
            hits = sims >= threshold
            crowded = np.nonzero(hits.sum(axis=1) > per_row)[0]
            for r in crowded.tolist():
                keep = np.argpartition(sims[r], -per_row)[-per_row:]
                row = np.zeros(sims.shape[1], dtype=bool)
                row[keep] = True
                hits[r] &= row
            rows, cols = np.nonzero(hits)
            scores = sims[rows, cols].tolist()
            for r, c, score in zip((rows + start).tolist(), (cols + start).tolist(), scores, strict=True):
                a, b = keys[r], keys[c]
                if a is not None and b is not None:
                    out.append((a, b, score))
        return out
