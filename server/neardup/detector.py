"""Near-duplicate pairs from the lexical and semantic tiers, kept up to date as examples change."""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .lexical import LexicalIndex
from .texts import IMAGE_LINE, same_images

if TYPE_CHECKING:
    from .cache import EmbeddingCache
    from .semantic import Embedder

Progress = Callable[[int, int], None]

LEXICAL_THRESHOLD = 0.7


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
    ) -> None:
        """Set (text) or remove (None) examples. Only new texts are shingled and embedded."""
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
            if text is not None:
                self._texts[key] = text
                added.append((key, text))
        if not added:
            return
        if self.lexical is not None:
            self.lexical.add_many(added)
        if self.embedder is not None and self.semantic is not None:
            vectors = self.embedder.embed([t for _, t in added], progress, cancelled)
            self.semantic.set_many([key for key, _ in added], vectors)

    def pairs(self, cancelled: Callable[[], bool] | None = None) -> list[Pair]:
        found: dict[tuple[Hashable, Hashable], Pair] = {}
        if self.semantic is not None:
            images = self._with_images()
            for a, b, score in self.semantic.all_pairs(self.threshold, cancelled=cancelled):
                if (a in images or b in images) and not self._same_images(a, b):
                    continue
                pair = _order(a, b)
                found[pair] = Pair(*pair, score, "semantic")
            return _sorted(found.values())
        assert self.lexical is not None
        images = self._with_images()
        for a, b, score in self.lexical.pairs():
            if (a in images or b in images) and not self._same_images(a, b):
                continue
            pair = _order(a, b)
            found[pair] = Pair(*pair, score, "lexical")
        return _sorted(found.values())

    def pairs_of(self, key: Hashable) -> list[Pair]:
        """Pairs involving one example: what an editor re-asks after a one-line edit."""
        if self.semantic is not None:
            near = [(o, s, "semantic") for o, s in self.semantic.neighbours(key, self.threshold)]
        else:
            assert self.lexical is not None
            near = [(o, s, "lexical") for o, s in self.lexical.neighbours(key)]
        return [Pair(*_order(key, o), s, tier) for o, s, tier in near if self._same_images(key, o)]

    def _with_images(self) -> set[Hashable]:
        """Ids of examples about images (the others pair with each other without a look at their texts)."""
        return {k for k, t in self._texts.items() if t.startswith(IMAGE_LINE)}

    def _same_images(self, a: Hashable, b: Hashable) -> bool:
        """Examples about different images are never near duplicates, however alike their words."""
        return same_images(self._texts.get(a, ""), self._texts.get(b, ""))


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
