"""The lexical tier: MinHash signatures of word 3-shingles, banded into an LSH index, all in numpy.

Shingles never cross a sentence boundary, so reordered sentences give the same set; digits are masked, so
examples that differ only in their numbers still collide. The score is the estimated Jaccard similarity of the
two shingle sets (the share of equal signature slots).

Speed: each distinct word is hashed once (blake2b, so results are the same in every process), shingle hashes are
combined from word hashes in numpy, and the signature is one-permutation MinHash (each shingle hashed once into
one of 64 slots, empty slots filled from the next full one) instead of 64 hash functions per shingle. Pairs come
from grouping the 8 band keys (8 slots each: the banding datasketch chooses for Jaccard 0.7 and 64 slots) by
sorting, then every candidate's signatures are compared.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Hashable, Iterable

NUM_PERM = 64
BANDS, ROWS = 16, 4  # a pair at Jaccard 0.7 shares a band 99% of the time (8 x 8: 65% at 0.77)
NEIGHBOURS_IN_BUCKET = 16  # in a bucket of many, each example is checked against this many on either side
_TOKEN = re.compile(r"\w+|[.!?]\s+|\n+")  # words, and sentence boundaries (. ! ? before whitespace, newlines)
_BOUNDARY = 0


class NearDuplicatesUnavailable(RuntimeError):
    """A package the near-duplicate tiers need is not installed; the message says which extra to install."""


class LexicalIndex:
    """Signatures by caller id, with insert and remove for editors; `pairs()` and `neighbours()` answer."""

    def __init__(self, threshold: float = 0.7) -> None:
        try:
            import numpy as np
        except ImportError:
            raise NearDuplicatesUnavailable(
                "near duplicates need the 'lexical' extra: pip install 'tuneline[lexical]'"
            ) from None
        self.np = np
        self.threshold = threshold
        self._word_hash: dict[str, int] = {}
        self._sigs = np.zeros((0, NUM_PERM), dtype=np.uint64)
        self._bands = np.zeros((0, BANDS), dtype=np.uint64)
        self._keys: list[Hashable | None] = []
        self._row: dict[Hashable, int] = {}
        self._free: list[int] = []
        rng = np.random.default_rng(20240607)  # fixed: band keys are the same in every process
        self._band_mix = rng.integers(1, 1 << 62, size=ROWS, dtype=np.uint64) | np.uint64(1)
        self._perm_a = rng.integers(1, 1 << 63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
        self._perm_b = rng.integers(0, 1 << 63, size=NUM_PERM, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._row)

    def ids(self) -> list[Hashable]:
        return list(self._row)

    # --- contents ----------------------------------------------------------------------------------------------
    def add_many(self, items: Iterable[tuple[Hashable, str]]) -> None:
        """Index (or re-index) examples; one without any word is left out, as it has no shingle."""
        np = self.np
        items = list(items)
        for start in range(0, len(items), 4096):
            batch = items[start : start + 4096]
            for key, _ in batch:
                self.remove(key)
            sigs = self._signatures([t for _, t in batch])
            keep = np.flatnonzero(sigs[:, 0] != np.iinfo(np.uint64).max)
            rows = [self._take_row(batch[i][0]) for i in keep.tolist()]
            self._sigs[rows] = sigs[keep]
            self._bands[rows] = self._band_keys(sigs[keep])

    def remove(self, key: Hashable) -> None:
        row = self._row.pop(key, None)
        if row is not None:
            self._keys[row] = None
            self._free.append(row)

    def _take_row(self, key: Hashable) -> int:
        np = self.np
        if self._free:
            row = self._free.pop()
            self._keys[row] = key
        else:
            row = len(self._keys)
            self._keys.append(key)
            if row >= len(self._sigs):
                size = max(1024, 2 * len(self._sigs))
                self._sigs = np.resize(self._sigs, (size, NUM_PERM))
                self._bands = np.resize(self._bands, (size, BANDS))
        self._row[key] = row
        return row

    # --- questions ---------------------------------------------------------------------------------------------
    def neighbours(self, key: Hashable) -> list[tuple[Hashable, float]]:
        """Other ids sharing a band with `key` whose estimated Jaccard similarity reaches the threshold."""
        np = self.np
        row = self._row.get(key)
        if row is None:
            return []
        used = len(self._keys)
        live = self._live(used)
        candidates = np.flatnonzero(np.any(self._bands[:used] == self._bands[row], axis=1) & live)
        candidates = candidates[candidates != row]
        scores = (self._sigs[candidates] == self._sigs[row]).mean(axis=1)
        hits = scores >= self.threshold
        return [(self._keys[r], float(s)) for r, s in zip(candidates[hits].tolist(), scores[hits].tolist())]

    def pairs(self) -> list[tuple[Hashable, Hashable, float]]:
        """Every pair sharing a band whose estimated Jaccard reaches the threshold, each once (in a bucket of many
        copies, each is checked against its NEIGHBOURS_IN_BUCKET nearest members by position, not all of them)."""
        np = self.np
        used = len(self._keys)
        if used < 2:
            return []
        live = np.flatnonzero(self._live(used))
        firsts, seconds = [], []
        for band in range(BANDS):
            keys = self._bands[live, band]
            order = np.argsort(keys, kind="stable")
            rows, sorted_keys = live[order], keys[order]
            for gap in range(1, NEIGHBOURS_IN_BUCKET + 1):
                same = np.flatnonzero(sorted_keys[gap:] == sorted_keys[:-gap])
                if not len(same):
                    break
                firsts.append(rows[same])
                seconds.append(rows[same + gap])
        if not firsts:
            return []
        a = np.concatenate(firsts)
        b = np.concatenate(seconds)
        a, b = np.minimum(a, b), np.maximum(a, b)
        pair = np.unique(a.astype(np.int64) * used + b)
        a, b = pair // used, pair % used
        scores = np.empty(len(a), dtype=np.float64)
        for start in range(0, len(a), 65536):
            sl = slice(start, start + 65536)
            scores[sl] = (self._sigs[a[sl]] == self._sigs[b[sl]]).mean(axis=1)
        hits = scores >= self.threshold
        keys = self._keys
        return [
            (keys[x], keys[y], s)
            for x, y, s in zip(a[hits].tolist(), b[hits].tolist(), scores[hits].tolist(), strict=True)
        ]

    def _live(self, used: int):
        live = self.np.ones(used, dtype=bool)
        live[self._free] = False
        return live

    # --- signatures --------------------------------------------------------------------------------------------
    def _signatures(self, texts: list[str]):
        """MinHash of each text's shingle hashes under NUM_PERM multiply-shift hash functions (all slots at the
        maximum: no shingle)."""
        np = self.np
        hashes, owners = self._shingle_hashes(texts)
        empty = np.iinfo(np.uint64).max
        sigs = np.full((len(texts), NUM_PERM), empty, dtype=np.uint64)
        if not len(hashes):
            return sigs
        order = np.argsort(owners, kind="stable")
        hashes, owners = hashes[order], owners[order]
        step = max(1, (1 << 20) // NUM_PERM)  # shingles at a time: an 8 MB block of hash values
        with np.errstate(over="ignore"):
            for start in range(0, len(hashes), step):
                h = hashes[start : start + step, None]
                o = owners[start : start + step]
                values = (h * self._perm_a + self._perm_b) >> np.uint64(32)
                firsts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
                block = np.minimum.reduceat(values, firsts, axis=0)
                sigs[o[firsts]] = np.minimum(sigs[o[firsts]], block)
        return sigs

    def _shingle_hashes(self, texts: list[str]):
        """64-bit hashes of every word 3-shingle inside a sentence (a sentence of one or two words is one shingle),
        digits masked, and which text each came from."""
        np = self.np
        ids: list[int] = []
        lengths: list[int] = []
        known = self._word_hash
        for text in texts:
            tokens = _TOKEN.findall(text.lower())
            found = list(map(known.get, tokens))
            if None in found:
                found = [x if x is not None else self._learn(t) for t, x in zip(tokens, found, strict=True)]
            ids += found
            lengths.append(len(tokens))
        if not ids:
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        h = np.array(ids, dtype=np.uint64)
        owner = np.repeat(np.arange(len(texts)), lengths)
        word = h != _BOUNDARY
        # A sentence is a run of words between boundaries (or text ends); number the runs.
        starts_run = word & np.r_[True, ~word[:-1] | (owner[1:] != owner[:-1])]
        run = np.cumsum(starts_run) - 1
        run_length = np.bincount(run[word], minlength=int(run[-1]) + 1 if len(run) else 0)
        out_hash, out_owner = [], []
        with np.errstate(over="ignore"):
            if len(h) >= 3:  # windows of three words in one run
                i = np.flatnonzero(word[:-2] & word[1:-1] & word[2:] & (run[:-2] == run[2:]))
                out_hash.append(_mix(np, h[i], h[i + 1], h[i + 2]))
                out_owner.append(owner[i])
            first = np.flatnonzero(starts_run)  # runs of one or two words: one shingle each
            n = run_length[run[first]]
            one, two = first[n == 1], first[n == 2]
            out_hash += [_mix(np, h[one], np.uint64(0), np.uint64(0)), _mix(np, h[two], h[two + 1], np.uint64(0))]
            out_owner += [owner[one], owner[two]]
        return np.concatenate(out_hash), np.concatenate(out_owner)

    def _learn(self, token: str) -> int:
        if not token[0].isalnum() and token[0] != "_":  # whitespace: a sentence boundary
            value = _BOUNDARY
        else:
            word = "#" if token.isdigit() else token
            digest = hashlib.blake2b(word.encode("utf-8", "surrogatepass"), digest_size=8).digest()
            value = int.from_bytes(digest, "little") | 1  # never the boundary
        if len(self._word_hash) < 1_000_000:
            self._word_hash[token] = value
        return value

    def _band_keys(self, sigs):
        np = self.np
        keys = np.zeros((len(sigs), BANDS), dtype=np.uint64)
        with np.errstate(over="ignore"):
            for band in range(BANDS):
                part = sigs[:, band * ROWS : (band + 1) * ROWS]
                keys[:, band] = (part * self._band_mix).sum(axis=1, dtype=np.uint64) + np.uint64(band)
        return keys


def _mix(np, a, b, c):
    """An order-sensitive 64-bit combination of three word hashes (wrapping arithmetic)."""
    x = a * np.uint64(0x9E3779B97F4A7C15) + b
    x = (x ^ (x >> np.uint64(29))) * np.uint64(0xBF58476D1CE4E5B9) + c
    x = (x ^ (x >> np.uint64(32))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(29))


def _densify(np, sigs, empty):
    """Fill each empty slot from the next full slot to its right (wrapping), offset by the distance, so two texts
    with the same shingles fill the same way (one-permutation hashing with rotation)."""
    full = sigs != empty
    if full.all():
        return sigs
    width = sigs.shape[1]
    cols = np.arange(2 * width)
    doubled = np.concatenate([full, full], axis=1)
    # Index of the next full slot at or after each position, in the doubled row.
    nxt = np.where(doubled, cols, 2 * width)
    nxt = np.minimum.accumulate(nxt[:, ::-1], axis=1)[:, ::-1][:, :width]
    has_any = full.any(axis=1)
    source = np.where(has_any[:, None], nxt % width, 0)
    distance = (nxt - np.arange(width)).astype(np.uint64)
    filled = np.take_along_axis(sigs, source, axis=1)
    with np.errstate(over="ignore"):
        filled = filled + distance * np.uint64(0x9E3779B97F4A7C15)
    out = np.where(full, sigs, filled)
    out[~has_any] = empty
    return out


def shingles(text: str, size: int = 3) -> set[bytes]:
    """The word shingles the signatures are made from, as text (for reading and tests)."""
    out: set[bytes] = set()
    for sentence in re.split(r"(?<=[.!?])\s+|\n+", text.lower()):
        words = ["#" if w.isdigit() else w for w in re.findall(r"\w+", sentence)]
        if len(words) < size:
            if words:
                out.add(" ".join(words).encode())
            continue
        out.update(" ".join(words[i : i + size]).encode() for i in range(len(words) - size + 1))
    return out
