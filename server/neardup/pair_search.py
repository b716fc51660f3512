"""All pairs of unit vectors whose cosine reaches a threshold, each row keeping a bounded number of partners.

Two searches give the same kind of answer:

- **Exact** (up to 5,000 rows, or a threshold under 0.5): the upper triangle of the similarity matrix, 1,024 rows
  at a time. O(N²·d).
- **Clustered** (more rows): spherical k-means on a sample puts the vectors into N/100 cells; each vector is stored
  in its 2 nearest cells and compared with everything stored in its 4 nearest, one matrix product per cell (about
  1/35 of the exact search's products at 100k rows). Near duplicates lie close together, so they share a cell: on
  the benchmark data it reports 99.9% (20k rows) and 99.6% (100k) of the rows the exact search reports, and the
  ones it misses are borderline (their best partner's median cosine is 0.81 at threshold 0.80; see
  docs/near-duplicates.md). Every score it reports is the exact cosine of the two full vectors, so it never
  reports a false pair.

What a row keeps: its most similar earlier row (so every near duplicate is reported against a partner before it,
which is what TL302 and `dedupe` need), and up to `per_row` later rows (the most similar; in a cell crowded with
copies, the first ones by position). A cluster of a thousand copies therefore costs O(rows) pairs, not O(rows²).

Products run on one BLAS thread; on the command line a forked child takes half of the cells (`forking`), and two
threads find the cells. A cell's hits are read out of its product by cell_hits.c where the compiled engine is built
(`_cell_hits` is its numpy reference: the same pairs in the same order).
Both take the matrix that similarities are taken on (see `SemanticIndex`) and return row numbers.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from .forking import can_fork, in_two

try:  # cell_hits.c, built with the compiled engine (native_build); `_cell_hits` is its reference
    from ._cell_hits import hits as _compiled_hits  # type: ignore[import-not-found]
except ImportError:
    _compiled_hits = None

EXACT_UP_TO = 5000  # rows; above this the clustered search runs (when the threshold is a near-duplicate one)
CLUSTERED_FROM_THRESHOLD = 0.5  # below this cosine, pairs are not close enough for cells to find them reliably
ROWS_PER_CELL = 100
STORED_IN = 2  # cells each vector is stored in
PROBES = 4  # cells each vector is compared with
KMEANS_ROUNDS = 4
SAMPLE_PER_CELL = 8  # k-means runs on this many sampled vectors per cell
_CHUNK = 8192  # rows given their nearest cells at a time
_TILE = 2048  # rows and columns of a matrix product at a time, so a huge cell never builds a huge matrix

StopAsked = Callable[[], bool]
Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]  # earlier rows, later rows, cosines


class Cancelled(Exception):
    """The caller asked to stop (an editor's cancel button)."""


def similar_pairs(
    matrix: np.ndarray,
    threshold: float,
    per_row: int = 8,
    cancelled: StopAsked | None = None,
    processes: int = 1,
) -> Pairs:
    """Pairs (a < b) of rows with cosine >= threshold; zero rows (free slots) never pair. With `processes` 2, a
    forked child searches half of the cells of a clustered search."""
    live = np.flatnonzero(np.any(matrix != 0, axis=1))
    if len(live) < 2:
        return _empty()
    vectors = matrix if len(live) == len(matrix) else matrix[live]
    with _one_blas_thread():
        if len(vectors) <= EXACT_UP_TO or threshold < CLUSTERED_FROM_THRESHOLD:
            a, b, s = exact_pairs(vectors, threshold, per_row, cancelled)
        else:
            a, b, s = clustered_pairs(vectors, threshold, per_row, cancelled, processes=processes)
    if len(live) != len(matrix):
        a, b = live[a], live[b]
    return a, b, s


def exact_pairs(vectors: np.ndarray, threshold: float, per_row: int = 8, cancelled: StopAsked | None = None) -> Pairs:
    n = len(vectors)
    block = 1024
    best_score = np.full(n, -np.inf, dtype=np.float32)  # each row's most similar earlier row so far
    best_row = np.full(n, -1, dtype=np.int64)
    later: list[Pairs] = []
    earlier_than = np.tri(block, dtype=bool)  # within a block: a row against itself and the rows before it
    for start in range(0, n, block):
        if cancelled and cancelled():
            raise Cancelled
        sims = vectors[start : start + block] @ vectors[start:].T  # rows against themselves and later rows only
        rows = sims.shape[0]
        sims[:, :rows][earlier_than[:rows, :rows]] = -np.inf
        top = sims.argmax(axis=0)
        top_score = sims[top, np.arange(sims.shape[1])]
        better = top_score > best_score[start:]
        best_score[start:][better] = top_score[better]
        best_row[start:][better] = top[better] + start
        r, c, s = _capped_hits(sims, threshold, per_row)
        later.append((r + start, c + start, s))
    found = best_score >= threshold
    earlier = (best_row[found], np.flatnonzero(found), best_score[found])
    return _unique([*later, earlier], n)


def clustered_pairs(
    vectors: np.ndarray,
    threshold: float,
    per_row: int = 8,
    cancelled: StopAsked | None = None,
    seed: int = 0,
    processes: int = 1,
) -> Pairs:
    n = len(vectors)
    cells = max(8, n // ROWS_PER_CELL)
    rng = np.random.default_rng(seed)  # fixed: the same file gives the same cells, so the same findings
    threads = 2 if processes > 1 else 1
    centroids = _spherical_kmeans(vectors, cells, rng, cancelled, threads)
    nearest = _nearest_cells(vectors, centroids, PROBES, threads)
    stored = _members_by_cell(nearest[:, :STORED_IN], cells)
    probing = _members_by_cell(nearest, cells)

    def search(chosen: np.ndarray, here: bool) -> Pairs:
        found: list[Pairs] = []  # candidate pairs, either order
        for cell in chosen.tolist():
            if here and cancelled and cancelled():
                raise Cancelled
            members, queries = stored[cell], probing[cell]
            if len(members) and len(queries):
                found.extend(_cell_pairs(vectors, queries, members, threshold, per_row))
        if not found:
            return _empty()
        return tuple(np.concatenate([f[i] for f in found]) for i in range(3))  # type: ignore[return-value]

    order = np.arange(cells)
    if processes > 1 and can_fork():
        # Two halves of about equal work (a cell costs queries x members), one in a forked child.
        cost = np.array([len(stored[c]) * len(probing[c]) for c in range(cells)])
        order = order[np.argsort(-cost, kind="stable")]
        mine = np.zeros(cells, dtype=bool)
        load = [0, 0]
        for c in order.tolist():
            side = int(load[1] < load[0])
            load[side] += int(cost[c])
            mine[c] = side == 0
        parts = in_two(search, (np.flatnonzero(mine), True), (np.flatnonzero(~mine), False))
    else:
        parts = (search(order, True),)
    x, y, s = (np.concatenate([p[i] for p in parts]) for i in range(3))
    if not len(x):
        return _empty()
    a, b, _ = _select(x, y, s, n, per_row)
    return a, b, _cosines(vectors, a, b)


def _cosines(vectors: np.ndarray, a: np.ndarray, b: np.ndarray, block: int = 16_384) -> np.ndarray:
    """The cosine of each chosen pair, computed pair by pair. A pair stored in two cells is scored by two matrix
    products of different shapes, which BLAS may round apart in the last bit; which one `_select` keeps depends on
    the order the cells were searched in (one process or two). Scored again here, a pair's cosine is one value
    however the work was split."""
    out = np.empty(len(a), dtype=vectors.dtype)
    for start in range(0, len(a), block):
        end = start + block
        out[start:end] = np.einsum("ij,ij->i", vectors[a[start:end]], vectors[b[start:end]])
    return out


# --- the clustered search's parts --------------------------------------------------------------------------------
def _spherical_kmeans(
    vectors: np.ndarray, cells: int, rng: np.random.Generator, cancelled: StopAsked | None, threads: int = 1
):
    sample = vectors[np.sort(rng.choice(len(vectors), min(len(vectors), cells * SAMPLE_PER_CELL), replace=False))]
    centroids = sample[rng.choice(len(sample), cells, replace=False)].copy()
    for _ in range(KMEANS_ROUNDS):
        if cancelled and cancelled():
            raise Cancelled
        label = _nearest_cells(sample, centroids, 1, threads)[:, 0]
        order = np.argsort(label, kind="stable")
        counts = np.bincount(label, minlength=cells)
        starts = np.cumsum(counts) - counts
        filled = counts > 0
        sums = np.zeros_like(centroids)
        sums[filled] = np.add.reduceat(sample[order], starts[filled], axis=0)
        empty = int((~filled).sum())
        if empty:  # a cell nobody chose restarts at a random sampled vector
            sums[~filled] = sample[rng.choice(len(sample), empty, replace=False)]
        centroids = sums / np.maximum(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12)
    return centroids.astype(np.float32)


def _nearest_cells(vectors: np.ndarray, centroids: np.ndarray, k: int, threads: int = 1) -> np.ndarray:
    """Each row's k nearest centroids, nearest first. With `threads` 2, two threads take alternate chunks: the
    product and argmax let go of the interpreter's lock (0.66 -> 0.35 s at 100k rows x 1,000 cells)."""
    k = min(k, len(centroids))
    out = np.empty((len(vectors), k), dtype=np.int64)

    def chunk(start: int) -> None:
        scores = vectors[start : start + _CHUNK] @ centroids.T
        rows = np.arange(len(scores))
        for j in range(k):  # k argmax passes: several times faster than one argpartition for small k
            out[start : start + _CHUNK, j] = best = scores.argmax(axis=1)
            scores[rows, best] = -np.inf

    starts = range(0, len(vectors), _CHUNK)
    if threads > 1 and len(starts) > 1:
        with ThreadPoolExecutor(threads, thread_name_prefix="tuneline-cells") as pool:  # none left to fork with
            list(pool.map(chunk, starts))
    else:
        for start in starts:
            chunk(start)
    return out


def _members_by_cell(assigned: np.ndarray, cells: int) -> list[np.ndarray]:
    """For each cell, the rows (ascending) assigned to it."""
    cell = assigned.reshape(-1)
    row = np.repeat(np.arange(len(assigned)), assigned.shape[1])
    order = np.argsort(cell, kind="stable")  # stable: rows stay ascending within a cell
    bounds = np.searchsorted(cell[order], np.arange(cells + 1))
    rows = row[order]
    return [rows[bounds[c] : bounds[c + 1]] for c in range(cells)]


def _cell_pairs(
    vectors: np.ndarray, queries: np.ndarray, members: np.ndarray, threshold: float, per_row: int
) -> list[Pairs]:
    """Candidate pairs (either order) of one cell, before `_select` picks among them: every hit of a query row or
    member with few hits, and between two crowded ones (a cluster of copies) only the hits either could keep: its
    best earlier partner and its `per_row` best later ones here."""
    out: list[Pairs] = []
    for qs in range(0, len(queries), _TILE):
        q = queries[qs : qs + _TILE]
        for ms in range(0, len(members), _TILE):
            m = members[ms : ms + _TILE]
            sims = vectors[q] @ vectors[m].T
            if _compiled_hits is None:
                out.extend(_cell_hits(sims, q, m, threshold, per_row))
            else:  # cell_hits.c: the same pairs in the same order, in two passes over the matrix
                a, b, s = _compiled_hits(sims, q, m, float(np.float32(threshold)), per_row)
                out.append((np.frombuffer(a, np.int64), np.frombuffer(b, np.int64), np.frombuffer(s, np.float32)))
    return out


def _cell_hits(sims: np.ndarray, q: np.ndarray, m: np.ndarray, threshold: float, per_row: int) -> list[Pairs]:
    """One tile's candidates from its similarities (queries `q` x members `m`, both ascending; `sims` is written
    to): the reference cell_hits.c is held equal to, pair for pair and in order."""
    out: list[Pairs] = []
    _, qi, mi = np.intersect1d(q, m, assume_unique=True, return_indices=True)
    sims[qi, mi] = -np.inf  # a row against itself
    hits = sims >= threshold
    crowded_rows = np.flatnonzero(hits.sum(axis=1) > per_row)
    crowded_cols = np.flatnonzero(hits.sum(axis=0) > per_row)
    if len(crowded_rows) or len(crowded_cols):
        hits[np.ix_(crowded_rows, crowded_cols)] = False  # a hit stays whole when one side has few
        out.extend(_crowded(sims[crowded_rows], q[crowded_rows], m, threshold, per_row))
        out.extend(_crowded(sims[:, crowded_cols].T, m[crowded_cols], q, threshold, per_row))
    r, c = np.nonzero(hits)
    out.append((q[r], m[c], sims[r, c]))
    return out


def _crowded(sims: np.ndarray, rows: np.ndarray, partners: np.ndarray, threshold: float, per_row: int) -> list[Pairs]:
    """For rows with many hits: the best earlier partner of each, and `per_row` later ones (the first by position:
    ranking them by score would cost more than the rest of the search in a cluster of copies)."""
    later = partners[None, :] > rows[:, None]
    earlier = np.where(later, -np.inf, sims)
    best = earlier.argmax(axis=1)
    best_score = earlier[np.arange(len(rows)), best]
    keep = best_score >= threshold
    hits = later & (sims >= threshold)
    hits &= np.cumsum(hits, axis=1, dtype=np.int32) <= per_row
    r, c = np.nonzero(hits)
    return [(rows[keep], partners[best[keep]], best_score[keep]), (rows[r], partners[c], sims[r, c])]


def _select(x: np.ndarray, y: np.ndarray, score: np.ndarray, n: int, per_row: int) -> Pairs:
    """From candidate pairs (either order, repeats allowed): each row's best earlier partner and its `per_row`
    best later ones, as (earlier, later) row pairs without repeats."""
    a, b, score = _unique([(np.minimum(x, y), np.maximum(x, y), score)], n)
    picked = np.zeros(len(a), dtype=bool)
    descending = _descending_key(score)
    for group, quota in ((b, 1), (a, per_row)):  # a later row's best earlier partner; an earlier row's best later
        # by group, then highest score, ties in candidate order: `np.lexsort((-score, group))`, 3-9x faster
        order = np.argsort((group.astype(np.uint64) << np.uint64(32)) | descending, kind="stable")
        g = group[order]
        starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
        rank = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
        picked[order[rank < quota]] = True
    return a[picked], b[picked], score[picked]


def _descending_key(score: np.ndarray) -> np.ndarray:
    """Unsigned integers in the reverse order of the float32 scores (the sign-flipped bit pattern, inverted)."""
    bits = np.ascontiguousarray(score, dtype=np.float32).view(np.uint32)
    ascending = np.where(bits >> np.uint32(31) != 0, ~bits, bits | np.uint32(0x80000000))
    return (~ascending).astype(np.uint64)


# --- shared ------------------------------------------------------------------------------------------------------
def _one_blas_thread():
    """The products here are small (a cell, a block): a second BLAS thread costs more in hand-offs than it gives,
    and three times as much when the other core is busy (measured: 0.45 s against 1.5 s at 20k rows)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _capped_hits(sims: np.ndarray, threshold: float, per_row: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, column, score) of entries >= threshold, at most `per_row` per row (its highest)."""
    hits = sims >= threshold
    crowded = np.flatnonzero(hits.sum(axis=1) > per_row)
    if len(crowded):
        top = np.argpartition(sims[crowded], -per_row, axis=1)[:, -per_row:]
        keep = np.zeros((len(crowded), sims.shape[1]), dtype=bool)
        np.put_along_axis(keep, top, True, axis=1)
        hits[crowded] &= keep
    rows, cols = np.nonzero(hits)
    return rows, cols, sims[rows, cols]


def _unique(parts: list[Pairs], n: int) -> Pairs:
    a = np.concatenate([p[0] for p in parts]).astype(np.int64)
    b = np.concatenate([p[1] for p in parts]).astype(np.int64)
    s = np.concatenate([p[2] for p in parts]).astype(np.float32)
    if not len(a):
        return _empty()
    _, first = np.unique(a * n + b, return_index=True)
    return a[first], b[first], s[first]


def _empty() -> Pairs:
    return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.float32)
