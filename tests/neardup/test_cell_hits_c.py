"""The clustered search's C cell walk (cell_hits.c) gives the numpy reference's candidate pairs, in the same order.

Order matters: the caller keeps the first of a pair found in several cells, with that cell's score, so the search's
result must not depend on whether a machine has a compiler. Held equal on random cells built to reach every branch
(rows and columns with few and many hits, rows in both lists, ties, NaN, thresholds whose float32 rounding differs
from the float64 value, an empty side), and the whole clustered search equal with and without it.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from tuneline.analysis import native
from tuneline.neardup import pair_search

from .test_pair_search import THRESHOLD, vectors

needs_c = pytest.mark.skipif(pair_search._compiled_hits is None, reason="the compiled engine is not built")


def _cell(rng: np.random.Generator, nq: int, nm: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Ascending unique query and member rows drawn from a small range (so many rows are in both), and their
    similarities: mostly low, a block of crowded rows and columns, repeated values (ties) and exact threshold
    values."""
    pool = max(nq, nm) * 2
    q = np.sort(rng.choice(pool, nq, replace=False)).astype(np.int64)
    m = np.sort(rng.choice(pool, nm, replace=False)).astype(np.int64)
    sims = rng.uniform(-0.2, 0.75, (nq, nm)).astype(np.float32)
    if nq and nm:
        rows = rng.choice(nq, max(1, nq // 4), replace=False)
        cols = rng.choice(nm, max(1, nm // 4), replace=False)
        sims[np.ix_(rows, cols)] = rng.choice(np.float32([0.8, 0.85, 0.9, 0.95, 1.0]), (len(rows), len(cols)))
        scattered = rng.random((nq, nm)) < 0.05
        sims[scattered] = rng.uniform(0.79, 1.0, int(scattered.sum())).astype(np.float32)
    return sims, q, m


def _both(sims: np.ndarray, q: np.ndarray, m: np.ndarray, threshold: float, per_row: int):
    want = pair_search._cell_hits(sims.copy(), q, m, threshold, per_row)
    a, b, s = pair_search._compiled_hits(sims.copy(), q, m, float(np.float32(threshold)), per_row)
    got = (np.frombuffer(a, np.int64), np.frombuffer(b, np.int64), np.frombuffer(s, np.float32))
    return got, tuple(np.concatenate([part[i] for part in want]) for i in range(3))


@needs_c
@pytest.mark.parametrize("seed", range(40))
def test_random_cells_give_the_references_pairs_in_order(seed: int) -> None:
    rng = np.random.default_rng(seed)
    nq, nm = (int(x) for x in rng.choice([0, 1, 2, 9, 40, 150], 2))
    sims, q, m = _cell(rng, nq, nm)
    per_row = int(rng.choice([0, 1, 3, 8]))
    threshold = float(rng.choice([0.8, 0.3, 0.9000001]))
    got, want = _both(sims, q, m, threshold, per_row)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype and np.array_equal(g, w)


@needs_c
def test_nan_and_self_pairs_are_handled_as_numpy_does() -> None:
    rng = np.random.default_rng(1)
    sims, q, m = _cell(rng, 30, 30)
    m = q.copy()  # every row against itself
    sims[3, :] = 0.95  # a crowded row, with a NaN among its earlier partners
    sims[3, 1] = np.nan
    sims[:, 5] = 0.9  # a crowded column
    got, want = _both(sims, q, m, 0.8, 2)
    for g, w in zip(got, want, strict=True):
        assert np.array_equal(g, w, equal_nan=True)
    pairs = set(zip(got[0].tolist(), got[1].tolist(), strict=True))
    assert all(a != b for a, b in pairs)


@needs_c
def test_the_clustered_search_is_the_same_with_and_without_the_c_walk(monkeypatch: pytest.MonkeyPatch) -> None:
    matrix = vectors(9000)
    with pair_search._one_blas_thread():
        compiled = pair_search.clustered_pairs(matrix, THRESHOLD)
        monkeypatch.setattr(pair_search, "_compiled_hits", None)
        reference = pair_search.clustered_pairs(matrix, THRESHOLD)
        threaded = pair_search.clustered_pairs(matrix, THRESHOLD, processes=2)
    assert len(compiled[0]) > 300
    for c, r, t in zip(compiled, reference, threaded, strict=True):
        assert np.array_equal(c, r) and np.array_equal(c, t)


def test_the_walk_is_used_where_the_compiled_engine_is() -> None:
    if native.in_use() or os.environ.get("TUNELINE_EXPECT_NATIVE") == "1":
        assert pair_search._compiled_hits is not None


@needs_c
def test_bad_arguments_are_errors_not_crashes() -> None:
    hits = pair_search._compiled_hits
    q = np.arange(3, dtype=np.int64)
    sims = np.zeros((3, 3), dtype=np.float32)
    with pytest.raises(ValueError):
        hits(np.zeros((3, 2), dtype=np.float32), q, q, 0.8, 8)  # not len(q) x len(m)
    with pytest.raises(ValueError):
        hits(sims, q[::-1].copy(), q, 0.8, 8)  # not ascending
    with pytest.raises(ValueError):
        hits(sims, q, q, 0.8, -1)
    with pytest.raises(ValueError):
        hits(sims, q.astype(np.int32)[:2].copy(), q, 0.8, 8)  # 8 bytes: not a whole number of rows for 3 x 3
    with pytest.raises(TypeError):
        hits(sims.tobytes(), q, q, 0.8, 8)  # read-only: the walk writes a row against itself as -inf
    with pytest.raises(TypeError):
        hits(sims, "rows", q, 0.8, 8)
