"""Near-duplicate pairs from the lexical and semantic tiers, kept up to date as examples change."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .lexical import LexicalIndex
from .texts import IMAGE_LINE, TEXTS_FORMAT, same_images

if TYPE_CHECKING:
    import numpy as np

    from .cache import EmbeddingCache
    from .semantic import Embedder

Progress = Callable[[int, int], None]
Rows = tuple["np.ndarray", "np.ndarray", "np.ndarray"]  # (earlier, later, score) as arrays: rows or line numbers

LEXICAL_THRESHOLD = 0.7
RESULT_FORMAT = "pairs-v1"  # change when the search or its stored layout changes: old results are then ignored


@dataclass(frozen=True, slots=True)
class Pair:
    a: Hashable
    b: Hashable
    score: float
    tier: str  # "lexical" | "semantic"


class NearDuplicateDetector:
    """Holds example texts by caller id; `pairs()` gives every near-duplicate pair once.

    mode "lexical": MinHash LSH candidates with estimated Jaccard >= 0.7. mode "semantic": pairs with embedding
    cosine >= the threshold (see `SemanticIndex.all_pairs`), from embeddings alone: it builds no MinHash index.
    """

    def __init__(
        self,
        mode: str = "lexical",
        *,
        threshold: float | None = None,
        model: str | None = None,
        cache: EmbeddingCache | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        if mode not in ("lexical", "semantic"):
            raise ValueError(mode)
        self.mode = mode
        self.lexical = LexicalIndex(LEXICAL_THRESHOLD) if mode == "lexical" else None
        self.embedder = embedder
        if mode == "semantic" and embedder is None:
            from .semantic import Embedder

            self.embedder = Embedder(model, cache)
        self.threshold = (
            threshold
            if threshold is not None
            else (self.embedder.default_threshold if self.embedder else LEXICAL_THRESHOLD)
        )
        self.semantic = None
        if self.embedder is not None:
            from .semantic import SemanticIndex

            self.semantic = SemanticIndex(self.embedder.reference_mean)
        self._texts: dict[Hashable, str] = {}
        # Worker processes a large update or search may use: 2 on the command line (a forked child takes half,
        # see `forking`), 1 in a language server, which must not fork.
        self.processes = 1
        self._content_keys: dict[Hashable, bytes] = {}  # semantic tier: the embedding cache's key of each text

    def __len__(self) -> int:
        return len(self._texts)

    def fresh(self) -> NearDuplicateDetector:
        """An empty detector with the same tier, threshold and (already loaded) embedding model."""
        return NearDuplicateDetector(
            self.mode, threshold=self.threshold if self.embedder else None, embedder=self.embedder
        )

    def ids(self) -> list[Hashable]:
        return list(self._texts)

    def update(
        self,
        changes: Iterable[tuple[Hashable, str | None]],
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
        content_keys: list[bytes] | None = None,
    ) -> None:
        """Set (text) or remove (None) examples. Only new texts are shingled and embedded. `content_keys` (the
        embedding cache's key of each change's text, when the caller has them) is used when every change is new."""
        added: list[tuple[Hashable, str]] = []
        for key, text in changes:
            old = self._texts.get(key)
            if text == old:
                continue
            if old is not None:
                if self.lexical is not None:
                    self.lexical.remove(key)
                if self.semantic is not None:
                    self.semantic.remove(key)
                del self._texts[key]
                self._content_keys.pop(key, None)
            if text is not None:
                self._texts[key] = text
                added.append((key, text))
        if not added:
            return
        if self.lexical is not None:
            self.lexical.add_many(added, self.processes)
        if self.embedder is not None and self.semantic is not None:
            known = content_keys if content_keys is not None and len(content_keys) == len(added) else None
            vectors = self.embedder.embed([t for _, t in added], progress, cancelled, self.processes, known)
            self.semantic.set_many([key for key, _ in added], vectors)
            self._content_keys.update(zip((key for key, _ in added), self.embedder.last_keys, strict=True))

    def pairs(self, cancelled: Callable[[], bool] | None = None, reuse: bool = False) -> list[Pair]:
        """Every pair, most similar first. With `reuse` (a whole-file check), the semantic tier's search result is
        read from the embedding cache when the same examples were searched before with the same model and
        threshold, and stored there otherwise."""
        found = {}
        for a, b, score in self.scored_pairs(cancelled, reuse):
            pair = _order(a, b)
            found[pair] = Pair(*pair, score, self.tier)
        return _sorted(found.values())

    @property
    def tier(self) -> str:
        return "semantic" if self.semantic is not None else "lexical"

    def scored_pairs(
        self, cancelled: Callable[[], bool] | None = None, reuse: bool = False
    ) -> list[tuple[Hashable, Hashable, float]]:
        """`pairs` as plain (id, id, score) tuples, each pair once, in no particular order (for whole files, where
        building and sorting a Pair per pair costs more than the use made of them)."""
        if self.semantic is not None:
            raw = self._semantic_pairs(cancelled, reuse)
        else:
            assert self.lexical is not None
            raw = self.lexical.pairs()
        return _same_images_only(raw, self._texts)

    def _semantic_pairs(
        self, cancelled: Callable[[], bool] | None, reuse: bool
    ) -> list[tuple[Hashable, Hashable, float]]:
        import numpy as np

        assert self.semantic is not None and self.embedder is not None
        cache = self.embedder.cache
        if not reuse or cache is None:
            return self.semantic.keyed(*self.semantic.pair_rows(self.threshold, cancelled, processes=self.processes))
        row_keys = self.semantic.row_keys()
        name = self._result_name((key, None if key is None else self._content_keys[key]) for key in row_keys)
        stored = _stored_rows(cache.get_result(name), len(row_keys))
        if stored is not None:
            return self.semantic.keyed(*stored)
        rows_a, rows_b, scores = self.semantic.pair_rows(self.threshold, cancelled, processes=self.processes)
        cache.put_result(
            name, np.concatenate([rows_a, rows_b]).astype(np.int64).tobytes() + scores.astype(np.float32).tobytes()
        )
        return self.semantic.keyed(rows_a, rows_b, scores)

    def _result_name(self, rows: Iterable[tuple[Hashable | None, bytes | None]]) -> bytes:
        """The embedding cache's name of a search result: the model, the threshold, and each row's key and content
        key in row order (a free row as "-")."""
        assert self.embedder is not None
        digest = hashlib.blake2b(
            f"{RESULT_FORMAT}\0{self.embedder.model_id}\0{self.threshold!r}".encode(), digest_size=20
        )
        for key, content in rows:
            digest.update(b"-" if key is None else repr(key).encode("utf-8", "surrogatepass") + b"\0")
            digest.update(content or b"")
        return digest.digest()

    def may_reuse_result(self) -> bool:
        """Whether `fresh_line_pairs` can run: a fresh semantic detector with an embedding cache."""
        return (
            self.semantic is not None
            and self.embedder is not None
            and self.embedder.cache is not None
            and not self._texts
        )

    def fresh_line_pairs(
        self,
        items: list[tuple[int, str]],
        progress: Progress | None = None,
        cancelled: Callable[[], bool] | None = None,
    ) -> Rows:
        """A fresh semantic detector with an embedding cache (`may_reuse_result`) given a whole file's examples
        (line number, text; distinct, ascending): `line_pairs(reuse=True)` after one `update`, with each text's
        content key taken once. When the cache holds the search result of the same texts (other lines with the
        same texts: trailing spaces, a system prompt), it is read without embedding or reading a single vector (a
        warm `check --near-duplicates` of 100k examples spent ~1 s reading them, only to find the pairs stored). A
        fresh index gives the i-th item row i, which is what the stored result's name and rows are made of. The new
        vectors' cache writes run on beside the search (`Embedder.background_writes`)."""
        from .cache import content_key

        assert self.may_reuse_result() and self.embedder is not None and self.embedder.cache is not None
        cache = self.embedder.cache
        content = [content_key(self.embedder.model_id, t) for _, t in items]
        name = self._result_name(zip((k for k, _ in items), content, strict=True))
        stored = _stored_rows(cache.get_result(name), len(items))
        if stored is None:
            import numpy as np

            assert self.embedder is not None and self.semantic is not None
            self.embedder.background_writes = True
            try:
                self.update(items, progress, cancelled, content)
            finally:
                self.embedder.background_writes = False
            stored = self.semantic.pair_rows(self.threshold, cancelled, processes=self.processes)
            data = np.concatenate(stored[:2]).astype(np.int64).tobytes() + stored[2].astype(np.float32).tobytes()
            cache.put_result(name, data)
        lines = _int_array([k for k, _ in items])
        return _same_images_rows(lines[stored[0]], lines[stored[1]], stored[2], dict(items))

    def line_pairs(self, cancelled: Callable[[], bool] | None = None, reuse: bool = False) -> Rows:
        """`scored_pairs` of a detector whose keys are line numbers, as (line, line, score) arrays."""
        if self.semantic is not None and not (reuse and self.embedder is not None and self.embedder.cache):
            rows_a, rows_b, scores = self.semantic.pair_rows(self.threshold, cancelled, processes=self.processes)
            lines = _int_array([-1 if k is None else k for k in self.semantic.row_keys()])
            a, b = lines[rows_a], lines[rows_b]
            live = (a >= 0) & (b >= 0)
            return _same_images_rows(a[live], b[live], scores[live], self._texts)
        pairs = self.scored_pairs(cancelled, reuse)
        a = _int_array([p[0] for p in pairs])
        b = _int_array([p[1] for p in pairs])
        return a, b, _float_array([p[2] for p in pairs])

    def lines_result_name(self, lines: Sequence[str]) -> bytes | None:
        """The embedding cache's name of the final pairs of a whole file with these lines (by line number), for
        `stored_line_pairs`; None where nothing can be stored. Equal lines give equal texts (`TEXTS_FORMAT`), so
        the name needs only the lines, the model and the threshold."""
        if not self.may_reuse_result():
            return None
        assert self.embedder is not None
        # SHA-256: in hardware on most CPUs, 0.12 -> 0.08 s for 100k lines against blake2b
        digest = hashlib.sha256(
            f"lines\0{RESULT_FORMAT}\0{TEXTS_FORMAT}\0{self.embedder.model_id}\0{self.threshold!r}".encode()
        )
        update = digest.update
        for line in lines:
            data = line.encode("utf-8", "surrogatepass")
            update(len(data).to_bytes(8, "little"))
            update(data)
        return digest.digest()[:20]

    def stored_line_pairs(self, name: bytes, lines: int) -> Rows | None:
        """The pairs (line, line, cosine) stored under `name` by `store_line_pairs`; None when there are none or
        they are damaged (a line number out of range)."""
        assert self.embedder is not None and self.embedder.cache is not None
        return _stored_rows(self.embedder.cache.get_result(name), lines)

    def store_line_pairs(self, name: bytes, pairs: Rows) -> None:
        """Keep a whole file's final pairs (line numbers) under `lines_result_name`."""
        import numpy as np

        assert self.embedder is not None and self.embedder.cache is not None
        a, b, scores = pairs
        data = np.concatenate([a, b]).astype(np.int64).tobytes() + scores.astype(np.float32).tobytes()
        self.embedder.cache.put_result(name, data)

    def pairs_of(self, key: Hashable) -> list[Pair]:
        """Pairs involving one example: what an editor re-asks after a one-line edit."""
        if self.semantic is not None:
            near = [(o, s, "semantic") for o, s in self.semantic.neighbours(key, self.threshold)]
        else:
            assert self.lexical is not None
            near = [(o, s, "lexical") for o, s in self.lexical.neighbours(key)]
        return [Pair(*_order(key, o), s, tier) for o, s, tier in near if self._same_images(key, o)]

    def _same_images(self, a: Hashable, b: Hashable) -> bool:
        """Examples about different images are never near duplicates, however alike their words."""
        return same_images(self._texts.get(a, ""), self._texts.get(b, ""))


def _same_images_only(
    raw: list[tuple[Hashable, Hashable, float]], texts: Mapping[Hashable, str]
) -> list[tuple[Hashable, Hashable, float]]:
    """The pairs whose examples are about the same images (examples about none pair without a look at their texts):
    the same question about different pictures is not a near duplicate."""
    images = {k for k, t in texts.items() if t.startswith(IMAGE_LINE)}
    if not images:
        return raw
    return [
        (a, b, s)
        for a, b, s in raw
        if not (a in images or b in images) or same_images(texts.get(a, ""), texts.get(b, ""))
    ]


def _same_images_rows(a: np.ndarray, b: np.ndarray, scores: np.ndarray, texts: Mapping[Hashable, str]) -> Rows:
    """`_same_images_only` on (line, line, score) arrays: only pairs with an image example are looked at."""
    images = [k for k, t in texts.items() if t.startswith(IMAGE_LINE)]
    if not images:
        return a, b, scores
    import numpy as np

    marked = _int_array(images)
    keep = ~(np.isin(a, marked) | np.isin(b, marked))
    for i in np.flatnonzero(~keep).tolist():
        keep[i] = same_images(texts.get(int(a[i]), ""), texts.get(int(b[i]), ""))
    return a[keep], b[keep], scores[keep]


def _int_array(values: list) -> np.ndarray:
    import numpy as np

    return np.array(values, dtype=np.int64).reshape(-1)


def _float_array(values: list) -> np.ndarray:
    import numpy as np

    return np.array(values, dtype=np.float32).reshape(-1)


def _stored_rows(stored: bytes | None, rows: int) -> Rows | None:
    """A stored search result over `rows` rows as (earlier rows, later rows, cosines); None when there is none, or it
    is damaged (a length that is not whole pairs, a row out of range): then the search runs again."""
    if stored is None or len(stored) % 20:  # two int64 rows and a float32 cosine per pair
        return None
    import numpy as np

    n = len(stored) // 20
    pairs = np.frombuffer(stored, dtype=np.int64, count=2 * n).reshape(2, n)
    if n and (pairs.min() < 0 or pairs.max() >= rows):
        return None
    return pairs[0], pairs[1], np.frombuffer(stored, dtype=np.float32, count=n, offset=16 * n)


def _sorted(pairs: Iterable[Pair]) -> list[Pair]:
    """Most similar first; ties by id (as text when ids of different types do not compare)."""
    pairs = list(pairs)
    try:
        return sorted(pairs, key=lambda p: (-p.score, p.a, p.b))
    except TypeError:
        return sorted(pairs, key=lambda p: (-p.score, str(p.a), str(p.b)))


def _order(a: Hashable, b: Hashable) -> tuple[Hashable, Hashable]:
    try:
        return (a, b) if a < b else (b, a)  # type: ignore[operator]
    except TypeError:
        return (a, b) if str(a) < str(b) else (b, a)
