"""The lexical tier: MinHash signatures of word 3-shingles, banded into an LSH index, all in numpy.

Shingles never cross a sentence boundary, so reordered sentences give the same set; digits are masked, so
examples that differ only in their numbers still collide. The score is the estimated Jaccard similarity of the
two shingle sets (the share of equal signature slots).

Speed: where the compiled engine is built, the signatures of printable-ASCII texts come from one C walk a text
(`minhash.c`, the same values bit for bit). Otherwise, and for other texts: words are found and hashed for a whole
batch of texts at once (`word_scan`; a regex per text only for texts outside printable ASCII), shingle hashes are
combined from word hashes in numpy, and the 64 MinHash values of each shingle come from multiply-shift hash
functions on two threads. Pairs come from grouping the 16 band keys (4 slots
each) by sorting, then every candidate's signatures are compared. Hashes are fixed functions of the bytes, so the
same file gives the same pairs in every process.
"""

from __future__ import annotations

import re
from collections.abc import Hashable, Iterable
from concurrent.futures import ThreadPoolExecutor

from .rows import KeyedRows

NUM_PERM = 64
BANDS, ROWS = 16, 4  # a pair at Jaccard 0.7 shares a band 99% of the time (8 x 8: 65% at 0.77)
_MAX_WORDS = 1_000_000  # distinct tokens remembered with their hash
FORK_FROM = 20_000  # examples before a forked child computes half of the signatures
NEIGHBOURS_IN_BUCKET = 16  # in a bucket of many, each example is checked against this many on either side
THREADS_FROM = 4_000  # examples before the compiled walk takes two threads
_HAS_SHINGLES, _NOT_PLAIN = 1, 2  # minhash.c's states of a text (0: no shingle)
_TOKEN = re.compile(r"\w+|[.!?]\s+|\n+")  # words, and sentence boundaries (. ! ? before whitespace, newlines)


try:  # minhash.c, built with the compiled engine (native_build); `_signatures` and `_band_keys` are its reference
    from ._minhash import band_keys as _compiled_band_keys  # type: ignore[import-not-found]
    from ._minhash import signatures as _compiled  # type: ignore[import-not-found]
except ImportError:
    _compiled = _compiled_band_keys = None


class NearDuplicatesUnavailable(RuntimeError):
    """A package the near-duplicate tiers need is not installed; the message says which extra to install."""


class LexicalIndex(KeyedRows):
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
        self._word_hash: dict[str, int] = {}  # words outside printable ASCII, by their hash
        from .word_scan import word_hash

        self._masked = np.uint64(word_hash(b"#"))  # every number is this word
        self._sigs = np.zeros((0, NUM_PERM), dtype=np.uint32)
        self._bands = np.zeros((0, BANDS), dtype=np.uint64)
        super().__init__()
        rng = np.random.default_rng(20240607)  # fixed: band keys are the same in every process
        self._band_mix = rng.integers(1, 1 << 62, size=ROWS, dtype=np.uint64) | np.uint64(1)
        self._perm_a = rng.integers(1, 1 << 63, size=NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
        self._perm_b = rng.integers(0, 1 << 63, size=NUM_PERM, dtype=np.uint64)

    def ids(self) -> list[Hashable]:
        return list(self._row)

    # --- contents ----------------------------------------------------------------------------------------------
    def add_many(self, items: Iterable[tuple[Hashable, str]], processes: int = 1) -> None:
        """Index (or re-index) examples; one without any word is left out, as it has no shingle. Where minhash.c is
        built, two threads compute the signatures of a big batch; otherwise, with `processes` 2 and many examples, a
        forked child computes half of them."""
        np = self.np
        items = list(items)
        if self._row:  # re-indexed examples leave their rows first
            for key, _ in items:
                self.remove(key)
        texts = [t for _, t in items]
        half = len(items) // 2
        if _compiled is not None:
            sigs, has_shingles = self._compiled_signatures(texts)
        elif processes > 1 and half >= FORK_FROM // 2:
            from .forking import in_two

            # Only the bounds go to the child: it has the texts already (forked), pickling them would cost more.
            mine, theirs = in_two(lambda a, b: self._signatures_of(texts, a, b), (half, len(texts)), (0, half))
            sigs = np.concatenate([theirs[0], mine[0]])
            has_shingles = np.concatenate([theirs[1], mine[1]])
        else:
            sigs, has_shingles = self._signatures_of(texts, 0, len(texts))
        keep = np.flatnonzero(has_shingles)
        rows = self._take_rows([items[i][0] for i in keep.tolist()])
        self._grow(len(self._keys))
        self._sigs[rows] = sigs[keep]
        self._bands[rows] = self._band_keys(sigs[keep])

    def _compiled_signatures(self, texts: list[str]):
        """`_signatures` from the C walk (minhash.c: the same values, ~30 times faster), on two threads for a big
        batch (the walk lets go of the GIL); texts outside printable ASCII, which it leaves, take the numpy path."""
        np = self.np
        sigs = np.empty((len(texts), NUM_PERM), dtype=np.uint32)
        states = np.empty(len(texts), dtype=np.uint8)
        masked = int(self._masked)

        def walk(start: int, stop: int) -> None:
            _compiled(texts[start:stop], masked, self._perm_a, self._perm_b, sigs[start:stop], states[start:stop])

        half = len(texts) // 2
        if half >= THREADS_FROM // 2:
            with ThreadPoolExecutor(1, thread_name_prefix="tuneline-minhash") as pool:
                theirs = pool.submit(walk, half, len(texts))
                walk(0, half)
                theirs.result()
        else:
            walk(0, len(texts))
        left = np.flatnonzero(states == _NOT_PLAIN)
        if len(left):
            sigs[left], states[left] = self._signatures([texts[i] for i in left.tolist()])
        return sigs, states == _HAS_SHINGLES

    def _signatures_of(self, texts: list[str], start: int, stop: int):
        np = self.np
        parts = [self._signatures(texts[i : min(i + 4096, stop)]) for i in range(start, stop, 4096)]
        if not parts:
            return np.zeros((0, NUM_PERM), dtype=np.uint32), np.zeros(0, dtype=bool)
        return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])

    def remove(self, key: Hashable) -> None:
        self._free_row(key)

    def _take_row(self, key: Hashable) -> int:
        row = super()._take_row(key)
        self._grow(row + 1)
        return row

    def _grow(self, rows: int) -> None:
        """Room for `rows` rows in the signature and band matrices (doubling, so growing one at a time is cheap)."""
        if rows > len(self._sigs):
            size = max(1024, 2 * len(self._sigs), rows)
            self._sigs = self.np.resize(self._sigs, (size, NUM_PERM))
            self._bands = self.np.resize(self._bands, (size, BANDS))

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

        def band_pairs(band: int) -> tuple[list, list]:
            keys = self._bands[live, band]
            order = np.argsort(keys, kind="stable")
            rows, sorted_keys = live[order], keys[order]
            firsts, seconds = [], []
            for gap in range(1, NEIGHBOURS_IN_BUCKET + 1):
                same = np.flatnonzero(sorted_keys[gap:] == sorted_keys[:-gap])
                if not len(same):
                    break
                firsts.append(rows[same])
                seconds.append(rows[same + gap])
            return firsts, seconds

        # numpy's sorts and comparisons let go of the GIL: on a big file two threads take the bands (0.32 → 0.2 s
        # at 100k); the pairs are sorted and made unique below, so the order they come in does not matter
        workers = 2 if used >= 20_000 else 1
        with ThreadPoolExecutor(workers, thread_name_prefix="tuneline-bands") as pool:
            per_band = list(pool.map(band_pairs, range(BANDS)))
        firsts = [f for fs, _ in per_band for f in fs]
        seconds = [s for _, ss in per_band for s in ss]
        if not firsts:
            return []
        a = np.concatenate(firsts)
        b = np.concatenate(seconds)
        pair = np.sort(np.minimum(a, b).astype(np.int64) * used + np.maximum(a, b))
        pair = pair[np.r_[True, pair[1:] != pair[:-1]]]  # sorting beats np.unique's hash table here (0.05 s, 0.5 s)
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
        """MinHash of each text's shingle hashes under NUM_PERM multiply-shift hash functions (32-bit values), and
        which texts have any shingle."""
        np = self.np
        hashes, owners = self._shingle_hashes(texts)
        sigs = np.full((len(texts), NUM_PERM), np.iinfo(np.uint32).max, dtype=np.uint32)
        has_shingles = np.zeros(len(texts), dtype=bool)
        has_shingles[owners] = True
        if not len(hashes):
            return sigs, has_shingles
        order = np.argsort(owners, kind="stable")
        hashes, owners = hashes[order], owners[order]
        step = max(1, (1 << 20) // NUM_PERM)  # shingles per task of the two threads
        # ... taken 2,048 at a time: their 1 MB of hash values stays in the core's cache through the multiply, the
        # add and the minimum (8 MB at a time went to memory and back three times: this step alone, one thread,
        # 50k bench texts, 0.50 -> 0.34 s)
        sub = max(1, (1 << 17) // NUM_PERM)

        def block(start: int) -> list:
            out = []
            for at in range(start, min(start + step, len(hashes)), sub):
                h = hashes[at : at + sub, None]
                o = owners[at : at + sub]
                values = np.multiply(h, self._perm_a)
                values += self._perm_b
                firsts = np.flatnonzero(np.r_[True, o[1:] != o[:-1]])
                # The top 32 bits are the hash value; shifting the minima equals taking the minimum of the shifted.
                out.append(
                    (o[firsts], (np.minimum.reduceat(values, firsts, axis=0) >> np.uint64(32)).astype(np.uint32))
                )
            return out

        # numpy lets go of the GIL in these loops: two threads use both cores.
        with np.errstate(over="ignore"), ThreadPoolExecutor(2, thread_name_prefix="tuneline-minhash") as pool:
            for parts in pool.map(block, range(0, len(hashes), step)):
                for rows, mins in parts:
                    sigs[rows] = np.minimum(sigs[rows], mins)
        return sigs, has_shingles

    def _shingle_hashes(self, texts: list[str]):
        """64-bit hashes of every word 3-shingle inside a sentence (a sentence of one or two words is one shingle),
        digits masked, and which text each came from."""
        np = self.np
        from .word_scan import all_digits, plain_ascii, scan

        plain = [i for i, t in enumerate(texts) if plain_ascii(t)]
        parts = []
        if plain:  # printable ASCII: words and sentences from one pass over the bytes
            words, sentence = scan([texts[i] for i in plain], bert=False)
            h = words.hash.copy()
            h[all_digits(words)] = self._masked
            parts.append((np.asarray(plain, dtype=np.int64)[words.owner], sentence, h))
        if len(plain) < len(texts):
            skip = set(plain)
            parts.append(self._regex_words(texts, [i for i in range(len(texts)) if i not in skip]))
        owner = np.concatenate([p[0] for p in parts])
        sentence = np.concatenate([p[1] for p in parts])
        h = np.concatenate([p[2] for p in parts])
        if not len(h):
            return np.zeros(0, dtype=np.uint64), np.zeros(0, dtype=np.int64)
        # A sentence is a run of words of one text between boundaries; number the runs.
        starts_run = np.r_[True, (owner[1:] != owner[:-1]) | (sentence[1:] != sentence[:-1])]
        run = np.cumsum(starts_run) - 1
        run_length = np.bincount(run)
        out_hash, out_owner = [], []
        with np.errstate(over="ignore"):
            if len(h) >= 3:  # windows of three words in one run
                i = np.flatnonzero(run[:-2] == run[2:])
                out_hash.append(_mix(np, h[i], h[i + 1], h[i + 2]))
                out_owner.append(owner[i])
            first = np.flatnonzero(starts_run)  # runs of one or two words: one shingle each
            n = run_length[run[first]]
            one, two = first[n == 1], first[n == 2]
            out_hash += [_mix(np, h[one], np.uint64(0), np.uint64(0)), _mix(np, h[two], h[two + 1], np.uint64(0))]
            out_owner += [owner[one], owner[two]]
        return np.concatenate(out_hash), np.concatenate(out_owner)

    def _regex_words(self, texts: list[str], rows: list[int]):
        """(text, sentence number, word hash) of each word of texts outside printable ASCII, by regex."""
        np = self.np
        from .word_scan import word_hash

        known = self._word_hash
        if len(known) > _MAX_WORDS:  # a long-running language server: start the memory again
            known.clear()
        owners: list[int] = []
        sentences: list[int] = []
        hashes: list[int] = []
        for row in rows:
            sentence = 0
            for token in _TOKEN.findall(texts[row].lower()):
                if not token[0].isalnum() and token[0] != "_":  # . ! ? before whitespace, or newlines
                    sentence += 1
                    continue
                value = known.get(token)
                if value is None:
                    value = known[token] = word_hash(
                        b"#" if token.isdigit() else token.encode("utf-8", "surrogatepass")
                    )
                owners.append(row)
                sentences.append(sentence)
                hashes.append(value)
        return (
            np.array(owners, dtype=np.int64),
            np.array(sentences, dtype=np.int64),
            np.array(hashes, dtype=np.uint64),
        )

    def _band_keys(self, sigs):
        np = self.np
        if _compiled_band_keys is not None:
            keys = np.empty((len(sigs), BANDS), dtype=np.uint64)
            _compiled_band_keys(np.ascontiguousarray(sigs, dtype=np.uint32), self._band_mix, keys)
            return keys
        return self._numpy_band_keys(sigs)

    def _numpy_band_keys(self, sigs):
        """`_band_keys` in numpy: the reference minhash.c's `band_keys` is held equal to."""
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
