"""All-pairs search: the exact one against brute force, the clustered one against the exact one, and through the
CLI on a file big enough for the clustered search."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from tuneline.neardup import pair_search
from tuneline.neardup.cache import EmbeddingCache
from tuneline.neardup.embedding_models import semantic_available

from .planted import NUMBERS, NUMBERS_SOURCE, PARAPHRASE, REORDERED, REPO, SUPPORT, chat

THRESHOLD = 0.8


def unit(x: np.ndarray) -> np.ndarray:
    return (x / np.linalg.norm(x, axis=-1, keepdims=True)).astype(np.float32)


def vectors(n: int = 6000, dim: int = 64) -> np.ndarray:
    """Random directions, with near copies of earlier rows planted later and one crowded cluster of 300 copies."""
    rng = np.random.default_rng(7)
    out = unit(rng.standard_normal((n, dim)))
    for row in rng.choice(np.arange(n // 2, n), 300, replace=False):  # near copies (cosine ~0.96) of earlier rows
        out[row] = unit(out[rng.integers(0, n // 2)] + 0.3 * rng.standard_normal(dim) / np.sqrt(dim))
    centre = out[0]
    for row in rng.choice(np.arange(1, n), 300, replace=False):
        out[row] = unit(centre + 0.2 * rng.standard_normal(dim) / np.sqrt(dim))
    return out


def best_earlier(found: tuple[np.ndarray, np.ndarray, np.ndarray]) -> dict[int, tuple[int, float]]:
    best: dict[int, tuple[int, float]] = {}
    for a, b, s in zip(*(x.tolist() for x in found), strict=True):
        if b not in best or s > best[b][1]:
            best[b] = (a, s)
    return best


def test_exact_search_keeps_each_rows_best_earlier_partner_and_few_later_ones():
    m = vectors(2500)
    sims = m @ m.T
    a, b, s = pair_search.exact_pairs(m, THRESHOLD, per_row=8)
    assert np.all(a < b) and np.allclose(s, sims[a, b], atol=1e-5) and np.all(s >= THRESHOLD)
    truth = {}
    for later in range(len(m)):
        earlier = sims[later, :later]
        if len(earlier) and earlier.max() >= THRESHOLD:
            truth[later] = (int(earlier.argmax()), float(earlier.max()))
    got = best_earlier((a, b, s))
    assert got.keys() == truth.keys() and all(got[k][0] == truth[k][0] for k in truth)
    assert len(a) <= len(m) * (8 + 1)  # later partners are capped: O(rows) pairs, not O(rows²)


def test_clustered_search_never_invents_a_pair_and_finds_what_the_exact_one_does():
    m = vectors()
    exact = best_earlier(pair_search.exact_pairs(m, THRESHOLD))
    a, b, s = pair_search.clustered_pairs(m, THRESHOLD)
    assert np.all(a < b) and np.all(s >= THRESHOLD)
    assert np.allclose(s, np.einsum("ij,ij->i", m[a], m[b]), atol=1e-5)  # every score is the exact cosine
    got = best_earlier((a, b, s))
    assert got.keys() <= exact.keys()
    assert len(got.keys() & exact.keys()) >= 0.99 * len(exact)
    assert len(a) <= len(m) * 10  # the cluster of 300 copies does not cost 300² pairs


def test_free_rows_never_pair_and_a_cancel_stops_the_search():
    m = vectors(6000)
    m[10] = 0.0
    m[20] = 0.0
    a, b, _ = pair_search.similar_pairs(m, THRESHOLD)
    assert not ({10, 20} & (set(a.tolist()) | set(b.tolist())))
    with pytest.raises(pair_search.Cancelled):
        pair_search.similar_pairs(m, THRESHOLD, cancelled=lambda: True)


def test_cache_rows_round_trip_whichever_way_they_are_read(tmp_path):
    cache = EmbeddingCache(tmp_path / "e.sqlite")
    keys = [bytes([i]) * 20 for i in range(50)]
    rows = unit(np.random.default_rng(1).standard_normal((50, 8)))
    cache.put_matrix(keys, rows)
    cache.flush()
    cache._db.execute("UPDATE vectors SET data = x'00' WHERE key = ?", (keys[3],))  # a damaged row
    for wanted in (keys, keys[:5]):  # most of the table (one scan) and a few look-ups
        found, matrix = cache.get_matrix(wanted, 8)
        assert sorted(found) == sorted(set(wanted) - {keys[3]})
        by_key = dict(zip(found, matrix, strict=True))
        for k in found:
            assert np.allclose(by_key[k], rows[keys.index(k)], atol=1e-3)  # stored as float16


def filler(count: int) -> list[str]:
    """Distinct support-like examples about made-up products: many lines, few of them alike."""
    rng = random.Random(3)
    words = sorted({w for line in SUPPORT for w in line.split() if w.isalpha() and w.islower()})
    out = []
    for i in range(count):
        question = f"Question {i} about product {rng.randint(1, 10**6)}: " + " ".join(rng.sample(words, 8)) + "?"
        out.append(chat(question, " ".join(rng.sample(words, 25)) + "."))
    return out


@pytest.mark.skipif(not semantic_available(), reason="the embed extra is not installed")
def test_cli_finds_the_planted_pairs_with_the_clustered_search(tmp_path):
    lines = [*filler(pair_search.EXACT_UP_TO), *SUPPORT, PARAPHRASE, REORDERED, NUMBERS]
    assert len(lines) > pair_search.EXACT_UP_TO
    data = tmp_path / "big.jsonl"
    data.write_text("\n".join(lines) + "\n")
    p = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", "--near-duplicates=semantic", str(data)],
        cwd=REPO,
        capture_output=True,
        timeout=300,
    )
    assert p.returncode != 2, p.stderr
    found = {
        d["line"]: d["related"][0]["line"]
        for d in json.loads(p.stdout)["files"][0]["diagnostics"]
        if d["code"] == "TL302"
    }
    first = pair_search.EXACT_UP_TO  # 0-based index of the first support line
    planted = {first + 61 + 1: first + 1 + 1, first + 62 + 1: first + 2 + 1, first + 63 + 1: first + NUMBERS_SOURCE + 1}
    assert {line: found.get(line) for line in planted} == planted
    assert Path(data).read_text().count("\n") == len(lines)


@pytest.mark.skipif(not semantic_available(), reason="the embed extra is not installed")
def test_a_whole_file_search_is_reused_only_for_the_same_examples(tmp_path, monkeypatch):
    from tuneline.analysis import Dataset, Engine, Settings
    from tuneline.neardup import NearDuplicateDetector
    from tuneline.neardup.checks import near_duplicate_findings

    searches: list[int] = []
    search = pair_search.similar_pairs
    monkeypatch.setattr(
        "tuneline.neardup.semantic.similar_pairs", lambda m, *a, **k: searches.append(len(m)) or search(m, *a, **k)
    )
    lines = [*SUPPORT, PARAPHRASE, REORDERED, NUMBERS]

    def findings(lines: list[str]) -> dict[int, int]:
        detector = NearDuplicateDetector("semantic", cache=EmbeddingCache(tmp_path / "e.sqlite"))
        found = near_duplicate_findings(Dataset(Engine(Settings()), lines), detector)
        return {f.line: f.related[0].line for f in found}

    first = findings(lines)
    assert findings(lines) == first and len(searches) == 1  # the same examples: the stored result
    example = json.loads(lines[10])
    example["messages"][-1]["content"] += " Thanks!"
    edited = [*lines[:10], json.dumps(example), *lines[11:]]
    assert findings(edited) == first and len(searches) == 2  # one example changed: searched again
    assert findings(lines[1:]) and len(searches) == 3  # every line moved: searched again


def test_a_forked_child_doing_half_the_work_changes_nothing(monkeypatch, tmp_path):
    from tuneline.neardup import forking, lexical, semantic
    from tuneline.neardup.texts import example_text

    if not forking.can_fork():
        pytest.skip("no fork on this platform")
    m = vectors()
    one = pair_search.clustered_pairs(m, THRESHOLD)
    two = pair_search.clustered_pairs(m, THRESHOLD, processes=2)
    assert all(np.array_equal(x, y) for x, y in zip(one, two, strict=True))

    texts = [(i, t) for i, line in enumerate([*SUPPORT, PARAPHRASE, REORDERED, NUMBERS]) if (t := example_text(line))]
    monkeypatch.setattr(lexical, "FORK_FROM", 10)
    alone, shared = lexical.LexicalIndex(0.5), lexical.LexicalIndex(0.5)
    alone.add_many(texts)
    shared.add_many(texts, processes=2)
    assert np.array_equal(alone._sigs[: len(texts)], shared._sigs[: len(texts)]) and alone.pairs() == shared.pairs()
    if semantic_available():
        monkeypatch.setattr(semantic, "FORK_FROM", 10)
        embedder = semantic.Embedder(cache=EmbeddingCache(tmp_path / "e.sqlite"))
        forked = embedder.embed([t for _, t in texts], processes=2)
        again = semantic.Embedder(cache=EmbeddingCache(tmp_path / "e.sqlite"))  # every vector stored, both halves
        assert np.allclose(forked, again.embed([t for _, t in texts]), atol=1e-3)
        assert np.allclose(forked, semantic.Embedder().embed([t for _, t in texts]), atol=1e-6)


def test_an_error_in_the_child_is_raised_here():
    from tuneline.neardup import forking

    def job(fail: bool) -> int:
        if fail:
            raise ValueError("in the child")
        return 1

    with pytest.raises(ValueError, match="in the child"):
        forking.in_two(job, (False,), (True,))


def test_select_picks_as_a_lexsort_by_group_and_score_would():
    """`_select` orders candidates by a packed integer key; the order (ties included) is `np.lexsort`'s."""

    def reference(x, y, score, n, per_row):
        a, b, score = pair_search._unique([(np.minimum(x, y), np.maximum(x, y), score)], n)
        picked = np.zeros(len(a), dtype=bool)
        for group, quota in ((b, 1), (a, per_row)):
            order = np.lexsort((-score, group))
            g = group[order]
            starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]])
            rank = np.arange(len(g)) - np.repeat(starts, np.diff(np.r_[starts, len(g)]))
            picked[order[rank < quota]] = True
        return a[picked], b[picked], score[picked]

    rng = np.random.default_rng(11)
    for n, count in ((50, 3000), (3000, 20000)):
        x, y = rng.integers(0, n, count), rng.integers(0, n, count)
        keep = x != y
        ties = rng.choice(np.float32([0.5, 0.8, 0.8000001, 0.9, 1.0]), count)
        score = np.where(rng.random(count) < 0.5, ties, rng.uniform(0.5, 1.0, count)).astype(np.float32)
        for per_row in (1, 3, 8):
            got = pair_search._select(x[keep], y[keep], score[keep], n, per_row)
            want = reference(x[keep], y[keep], score[keep], n, per_row)
            assert all(np.array_equal(g, w) for g, w in zip(got, want, strict=True))
