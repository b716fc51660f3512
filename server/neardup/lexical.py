"""The lexical tier: MinHash signatures of word 3-shingles in an LSH index (datasketch).

Shingles never cross a sentence boundary, so reordered sentences give the same set; digits are masked, so
examples that differ only in their numbers still collide. The estimated Jaccard similarity is the score.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable

_WORD = re.compile(r"\w+")
NUM_PERM = 64


class NearDuplicatesUnavailable(RuntimeError):
    """A package the near-duplicate tiers need is not installed; the message says which extra to install."""


_SENTENCE = re.compile(r"(?<=[.!?])\s+|\n+")


def shingles(text: str, size: int = 3) -> set[bytes]:
    out: set[bytes] = set()
    for sentence in _SENTENCE.split(text.lower()):
        words = ["#" if w.isdigit() else w for w in _WORD.findall(sentence)]
        if len(words) < size:
            if words:
                out.add(" ".join(words).encode())
            continue
        out.update(" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1))
    return out


class LexicalIndex:
    """MinHash LSH over example ids, with insert and remove for editors."""

    def __init__(self, threshold: float = 0.7) -> None:
        try:
            from datasketch import MinHashLSH
        except ImportError:
            raise NearDuplicatesUnavailable(
                "near duplicates need the 'lexical' extra (datasketch): pip install 'tuneline[lexical]'"
            ) from None

        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=NUM_PERM)
        self._sigs: dict[Hashable, object] = {}

    def __len__(self) -> int:
        return len(self._sigs)

    def add_many(self, items: Iterable[tuple[Hashable, str]]) -> None:
        from datasketch import MinHash

        items = [(key, shingles(text)) for key, text in items]
        items = [(key, sh) for key, sh in items if sh]
        sigs = MinHash.bulk([sh for _, sh in items], num_perm=NUM_PERM) if items else []
        with self._lsh.insertion_session() as session:
            for (key, _), sig in zip(items, sigs, strict=True):
                if key in self._sigs:
                    self.remove(key)
                self._sigs[key] = sig
                session.insert(key, sig, check_duplication=False)

    def remove(self, key: Hashable) -> None:
        if self._sigs.pop(key, None) is not None:
            self._lsh.remove(key)

    def neighbours(self, key: Hashable) -> list[tuple[Hashable, float]]:
        """Other ids whose estimated Jaccard similarity with `key` reaches the threshold."""
        sig = self._sigs.get(key)
        if sig is None:
            return []
        out = []
        for other in self._lsh.query(sig):
            if other == key:
                continue
            score = sig.jaccard(self._sigs[other])  # type: ignore[attr-defined]
            if score >= self.threshold:
                out.append((other, float(score)))
        return out

    def ids(self) -> list[Hashable]:
        return list(self._sigs)
