"""TL302 and TL306 for whole files: what `tuneline check --near-duplicates` and the editor's background pass run."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Hashable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from ..analysis.engine import Dataset
from ..analysis.types import Finding, Related, Span
from .texts import example_text

if TYPE_CHECKING:
    from .detector import NearDuplicateDetector, Pair, Progress


def line_texts(lines: list[str]) -> dict[int, str]:
    """Comparable text by line number, for the lines that are examples."""
    return {i: t for i, line in enumerate(lines) if (t := example_text(line))}


def dataset_texts(dataset: Dataset) -> dict[int, str]:
    return line_texts(dataset.texts)


def pair_findings(
    pairs: Iterable[Pair], line_of: Callable[[Hashable], int], length_of: Callable[[int], int]
) -> list[Finding]:
    """TL302 on the later line of each pair (its most similar earlier partner), pointing at the earlier one."""
    best: dict[int, tuple[float, int, Pair]] = {}
    for p in pairs:
        la, lb = line_of(p.a), line_of(p.b)
        first, later = (la, lb) if la < lb else (lb, la)
        if later not in best or p.score > best[later][0]:
            best[later] = (p.score, first, p)
    out = []
    for later, (score, first, p) in sorted(best.items()):
        what = f"cosine similarity {score:.3f}" if p.tier == "semantic" else f"{score:.0%} of word shingles shared"
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
    """TL302 for one file; exact duplicates (TL301 already reports them) are left out."""
    texts = dataset_texts(dataset)
    detector.update(texts.items(), progress, cancelled)
    pairs = [
        p
        for p in detector.pairs(cancelled)
        if dataset.result(p.a).dup_key != dataset.result(p.b).dup_key  # type: ignore[arg-type]
    ]
    return pair_findings(pairs, lambda key: key, lambda line: len(dataset.text(line)))  # type: ignore[arg-type,return-value]


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
