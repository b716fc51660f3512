"""The near-duplicate options `check` and `dedupe` share, and the pass that adds TL302/TL306 to check's reports.

numpy, the tokenizer and scipy (sentence-transformers only for other models) load only when a tier runs (`tuneline.neardup` imports them lazily).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..analysis.config import Settings
from ..analysis.engine import Engine
from ..analysis.report import FileReport, read_texts
from ..fileio import FileRefused, open_regular
from .common import UsageError, at_end, max_line_bytes, unit_fraction

if TYPE_CHECKING:
    from ..neardup.detector import NearDuplicateDetector


def resolve_mode(requested: str | None, settings: Settings) -> str:
    """'off' | 'lexical' | 'semantic' (the policy in `tuneline.neardup.policy`), with its note on stderr."""
    from ..neardup.policy import resolve_mode as policy_mode

    mode, note = policy_mode(requested, settings)
    if note:
        print(f"tuneline: note: {note}", file=sys.stderr)
    return mode


def detector_for(mode: str, settings: Settings, threshold: float | None):
    """The detector `tuneline.neardup.policy` builds; a missing extra or model is a usage error (exit 2)."""
    from ..neardup.lexical import NearDuplicatesUnavailable
    from ..neardup.policy import build_detector

    try:
        return build_detector(mode, settings, threshold)
    except NearDuplicatesUnavailable as exc:
        raise UsageError(str(exc)) from None


def progress_printer(label: str):
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        print(f"\r{label} {done:,} / {total:,} examples", end="" if done < total else "\n", file=sys.stderr)

    return report


def add_near_duplicates(reports: list[FileReport], engine: Engine, mode: str, threshold: float | None = None) -> None:
    """TL302 in every report, and TL306 on validation files whose training file is known. (The checks module,
    with its thread pool, is imported only when one of them runs: ~7 ms a small file's `check` would not use.)"""
    from ..neardup.pairing import training_partner

    settings = engine.settings
    configured = {}
    if settings.validation_file:  # the other checked files are the training files of this validation file
        validation = Path(settings.validation_file).resolve()
        configured = {
            Path(r.path): validation for r in reports if r.path != "-" and Path(r.path).resolve() != validation
        }
    by_path = {Path(r.path).resolve(): r for r in reports if r.path != "-"}
    loaded = None  # one detector loads the embedding model; the others share it through fresh()

    def detector():
        nonlocal loaded
        if loaded is None:
            loaded = detector_for(mode, settings, threshold)
            return loaded
        return loaded.fresh()

    for report in reports:
        if mode != "off":
            from ..neardup.checks import near_duplicate_findings

            found = near_duplicate_findings(report.dataset, detector(), progress_printer("Embedding"))
            report.dataset.set_external("near-duplicates", found)
        if report.path != "-":
            train = training_partner(Path(report.path), configured)
            if train is not None:
                other = by_path.get(train.resolve())
                train_lines = other.dataset.texts if other else _read_texts(train)
                near = detector() if mode != "off" else None
                from ..neardup.checks import overlap_findings

                report.dataset.set_external("overlap", overlap_findings(report.dataset, train_lines, train, near))
        report.refresh()
    if loaded is not None:
        finish_writes_at_end(loaded)


def finish_writes_at_end(detector: NearDuplicateDetector) -> None:
    """Have the command wait, once its output is out, for the embedding cache's last writes (a big file's vectors
    are written while its search runs); a cache that cannot be written costs the next run time, not this run its
    report: one warning line."""
    cache = detector.embedder.cache if detector.embedder is not None else None
    if cache is None:
        return

    def finish() -> None:
        import sqlite3

        try:
            cache.flush()
        except (sqlite3.Error, OSError) as exc:
            print(f"tuneline: warning: the embedding cache was not written: {exc}", file=sys.stderr)

    at_end(finish)


def add_near_duplicate_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--near-duplicates",
        nargs="?",
        const="auto",
        choices=["off", "lexical", "semantic", "auto"],
        help=f"{what} (alone: the semantic tier if the embed extra is installed, else lexical)",
    )
    parser.add_argument(
        "--near-duplicate-threshold", type=unit_fraction, help="cosine threshold for the semantic tier, in (0, 1]"
    )


def _read_texts(path: Path) -> list[str]:
    """A training file's lines as text, for comparing a validation file with it (over-long lines left empty)."""

    cap = max_line_bytes()
    try:
        with open_regular(path) as fh:
            return read_texts(fh, cap)
    except (FileRefused, OSError) as exc:
        raise UsageError(f"{exc} (the training file to compare the validation file with)") from None
