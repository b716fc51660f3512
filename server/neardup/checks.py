"""TL302 and TL306 for whole files: what `tuneline check --near-duplicates` and the editor's background pass run."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING

from ..analysis.engine import Dataset
from ..analysis.types import Finding, Related, Span
from .texts import example_text

if TYPE_CHECKING:
    from .detector import NearDuplicateDetector, Pair, Progress, Rows


def line_texts(lines: list[str]) -> dict[int, str]:
    """Comparable text by line number, for the lines that are examples."""
    return {i: t for i, line in enumerate(lines) if (t := example_text(line))}


def dataset_texts(dataset: Dataset) -> dict[int, str]:
    return line_texts(dataset.texts)


def pair_findings(
    pairs: Iterable[Pair], line_of: Callable[[Hashable], int], length_of: Callable[[int], int]
) -> list[Finding]:
    """TL302 on the later line of each pair (its most similar earlier partner), pointing at the earlier one."""
    best: dict[int, tuple[float, int]] = {}
    tier = "lexical"
    for p in pairs:
        la, lb = line_of(p.a), line_of(p.b)
        first, later = (la, lb) if la < lb else (lb, la)
        if later not in best or p.score > best[later][0]:
            best[later] = (p.score, first)
        tier = p.tier
    return _findings(best, tier, length_of)


def _findings(best: dict[int, tuple[float, int]], tier: str, length_of: Callable[[int], int]) -> list[Finding]:
    out = []
    for later, (score, first) in sorted(best.items()):
        what = f"cosine similarity {score:.3f}" if tier == "semantic" else f"{score:.0%} of word shingles shared"
        out.append(
            Finding(
                "TL302",
                f"Near duplicate of line {first + 1} ({what}).",
                later,
                Span(0, length_of(later)),
                related=(Related(first, "the similar example"),),
            )
        )
    return out


def near_duplicate_findings(
    dataset: Dataset,
    detector: NearDuplicateDetector,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[Finding]:
    """TL302 for one file (the command line's pass: a big file's work is shared with a forked child process);
    exact duplicates (TL301 already reports them) are left out. The search result is kept in the embedding cache,
    so checking the same examples again skips the search."""
    from .forking import can_fork

    processes, detector.processes = detector.processes, 2 if can_fork() else 1
    try:
        pairs = _line_pairs(dataset.texts, detector, progress, cancelled)
    finally:
        detector.processes = processes
    best = _best_earlier(pairs, [r.dup_key for r in dataset.results])
    return _findings(best, detector.tier, lambda line: len(dataset.text(line)))


def _line_pairs(
    lines: list[str],
    detector: NearDuplicateDetector,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> Rows:
    """The file's pairs (line, line, score): stored under the lines themselves when the same lines were searched
    before (no text read: ~1 s of a warm 100k check), else stored under the texts, else searched."""
    by_lines = detector.lines_result_name(lines)
    if by_lines is None:
        _update_from_lines(lines, detector, progress, cancelled)
        return detector.line_pairs(cancelled, reuse=True)
    pairs = detector.stored_line_pairs(by_lines, len(lines))
    if pairs is None:
        pairs = detector.fresh_line_pairs(list(_all_texts(lines, detector.processes).items()), progress, cancelled)
        detector.store_line_pairs(by_lines, pairs)
    return pairs


def _best_earlier(pairs: Rows, dup_keys: list[bytes | None]) -> dict[int, tuple[float, int]]:
    """Each later line's most similar earlier line (the first of equal scores) and their score, leaving out exact
    duplicates (equal `dup_key`s: TL301 reports them)."""
    import numpy as np

    a, b, score = pairs
    if not len(a):
        return {}
    first, later = np.minimum(a, b), np.maximum(a, b)
    ids: dict[bytes | None, int] = {}
    key_id = np.fromiter((ids.setdefault(k, len(ids)) for k in dup_keys), dtype=np.int64, count=len(dup_keys))
    differ = key_id[first] != key_id[later]
    if not differ.any():
        return {}
    first, later, score = first[differ], later[differ], score[differ]
    order = np.lexsort((first, -score, later))  # by later line, then highest score, then earliest partner
    first, later, score = first[order], later[order], score[order]
    head = np.r_[True, later[1:] != later[:-1]]
    return dict(zip(later[head].tolist(), zip(score[head].tolist(), first[head].tolist(), strict=True), strict=True))


CHUNK_LINES = 8192
FORK_FROM = 20_000  # lines


def _texts_between(lines: list[str], start: int, stop: int) -> dict[int, str]:
    return {i: t for i in range(start, stop) if (t := example_text(lines[i]))}


def _all_texts(lines: list[str], processes: int) -> dict[int, str]:
    """`line_texts`, in line order; for a big file with two processes a forked child reads half of them."""
    if processes > 1 and len(lines) >= FORK_FROM:
        from .forking import in_two

        half = len(lines) // 2
        mine, theirs = in_two(lambda start, stop: _texts_between(lines, start, stop), (0, half), (half, len(lines)))
        return {**mine, **theirs}
    return line_texts(lines)


def _update_from_lines(
    lines: list[str],
    detector: NearDuplicateDetector,
    progress: Progress | None,
    cancelled: Callable[[], bool] | None,
) -> None:
    """Give the detector the comparable text of each example line (by line number), a chunk at a time on a second
    thread: taking texts out of JSON holds the GIL, while most of the detector's work (numpy, the Rust tokenizer,
    SQLite) lets go of it, so on two cores one chunk's texts are read while the previous chunk is embedded."""
    if len(lines) <= CHUNK_LINES or (detector.processes > 1 and len(lines) >= FORK_FROM):
        detector.update(list(_all_texts(lines, detector.processes).items()), progress, cancelled)  # all at once
        return
    done = 0

    def update(chunk: dict[int, str], before: int) -> None:
        report = (lambda n, _total: progress(min(before + n, len(lines) - 1), len(lines))) if progress else None
        detector.update(chunk.items(), report, cancelled)

    with ThreadPoolExecutor(1, thread_name_prefix="tuneline-neardup") as pool:
        pending: Future[None] | None = None
        for start in range(0, len(lines), CHUNK_LINES):
            chunk = {i: t for i in range(start, min(start + CHUNK_LINES, len(lines))) if (t := example_text(lines[i]))}
            if pending is not None:
                pending.result()  # one chunk in flight: the detector sees them in order
            pending = pool.submit(update, chunk, done)
            done += len(chunk)
        if pending is not None:
            pending.result()
    if progress:
        progress(len(lines), len(lines))


def _digest(text: str) -> bytes:
    return hashlib.blake2b(" ".join(text.split()).lower().encode("utf-8", "surrogatepass"), digest_size=16).digest()


def overlap_findings(
    validation: Dataset | list[str],
    training_lines: list[str],
    training_path: Path,
    detector: NearDuplicateDetector | None = None,
    progress: Progress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> list[Finding]:
    """TL306 on validation lines that equal (or, with a detector, nearly equal) a training example."""
    val_lines = validation if isinstance(validation, list) else validation.texts
    val_texts = line_texts(val_lines)
    train_texts = line_texts(training_lines)
    exact: dict[bytes, int] = {}
    for i, t in train_texts.items():
        exact.setdefault(_digest(t), i)
    hits: dict[int, tuple[int, str]] = {}
    for j, t in val_texts.items():
        i = exact.get(_digest(t))
        if i is not None:
            hits[j] = (i, "a copy")
    if detector is not None:
        detector.update([(("t", i), t) for i, t in train_texts.items()], progress, cancelled)
        detector.update([(("v", j), t) for j, t in val_texts.items() if j not in hits], progress, cancelled)
        for p in detector.pairs(cancelled):
            sides = {p.a[0], p.b[0]}  # type: ignore[index]
            if sides != {"t", "v"}:
                continue
            train_key, val_key = (p.a, p.b) if p.a[0] == "t" else (p.b, p.a)  # type: ignore[index]
            j = val_key[1]  # type: ignore[index]
            if j not in hits:
                what = f"cosine {p.score:.3f}" if p.tier == "semantic" else f"{p.score:.0%} shingles shared"
                hits[j] = (train_key[1], f"a near duplicate ({what})")  # type: ignore[index]
    out = []
    for j, (i, what) in sorted(hits.items()):
        out.append(
            Finding(
                "TL306",
                f"This validation example is {what} of line {i + 1} of the training file {training_path.name}: "
                "evaluating on it measures memorisation.",
                j,
                Span(0, len(val_lines[j])),
                related=(Related(i, f"line {i + 1} of {training_path.name}", path=str(training_path)),),
            )
        )
    return out
