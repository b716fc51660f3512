"""The command-line side of near duplicates: `check --near-duplicates`, train/validation overlap, `dedupe`."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from .analysis.config import Settings
from .analysis.engine import Engine
from .analysis.lines import decode_line, iter_raw_lines
from .analysis.report import FileReport, check_stream
from .fileio import FileRefused, atomic_write, clean_stale_temps, default_file_mode, open_regular
from .output import clean


def resolve_mode(requested: str | None, settings: Settings) -> str:
    """'off' | 'lexical' | 'semantic'; 'auto' picks semantic when the embed extra is installed."""
    mode = requested or settings.near_duplicates
    if mode == "auto":
        from .neardup.models import semantic_available

        if semantic_available():
            return "semantic"
        print(
            "tuneline: note: semantic near duplicates need the 'embed' extra; using the lexical tier", file=sys.stderr
        )
        return "lexical"
    return mode


def _detector(mode: str, settings: Settings, threshold: float | None):
    from .neardup.lexical import NearDuplicatesUnavailable

    explicit = threshold if threshold is not None else settings.near_duplicate_threshold
    try:
        from .neardup.detector import NearDuplicateDetector

        cache = None
        if mode == "semantic":
            from .neardup.cache import EmbeddingCache

            cache = EmbeddingCache()
        return NearDuplicateDetector(mode, threshold=explicit, model=settings.embedding_model, cache=cache)
    except NearDuplicatesUnavailable as exc:
        from .cli import UsageError

        raise UsageError(str(exc)) from None


def _progress(label: str):
    if not sys.stderr.isatty():
        return None

    def report(done: int, total: int) -> None:
        print(f"\r{label} {done:,} / {total:,} examples", end="" if done < total else "\n", file=sys.stderr)

    return report


def add_near_duplicates(reports: list[FileReport], engine: Engine, mode: str, threshold: float | None = None) -> None:
    """TL302 in every report, and TL306 on validation files whose training file is known."""
    from .neardup.checks import near_duplicate_findings, overlap_findings
    from .neardup.pairing import training_partner

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
            loaded = _detector(mode, settings, threshold)
            return loaded
        return loaded.fresh()

    for report in reports:
        if mode != "off":
            found = near_duplicate_findings(report.dataset, detector(), _progress("Embedding"))
            report.dataset.set_external("near-duplicates", found)
        if report.path != "-":
            train = training_partner(Path(report.path), configured)
            if train is not None:
                other = by_path.get(train.resolve())
                train_lines = other.dataset.texts if other else _read_texts(train)
                near = detector() if mode != "off" else None
                report.dataset.set_external("overlap", overlap_findings(report.dataset, train_lines, train, near))
        report.refresh()


def _read_texts(path: Path) -> list[str]:
    """A training file's lines as text, for comparing a validation file with it (over-long lines left empty)."""
    from .cli import UsageError, max_line_bytes

    cap = max_line_bytes()
    try:
        with open_regular(path) as fh:
            return ["" if raw is None else decode_line(raw)[0] for raw, _, _ in iter_raw_lines(fh, cap)]
    except (FileRefused, OSError) as exc:
        raise UsageError(f"{exc} (the training file to compare the validation file with)") from None


def _copy(fh: BinaryIO, ranges: list[tuple[int, int]], block: int = 1 << 20) -> Iterator[bytes]:
    """The bytes of `ranges` of the open file, a block at a time: kept lines go out exactly as they came in."""
    for start, end in ranges:
        fh.seek(start)
        left = end - start
        while left:
            data = fh.read(min(block, left))
            if not data:
                raise OSError("the file got shorter while it was being copied")
            left -= len(data)
            yield data


def cmd_dedupe(args: argparse.Namespace) -> int:
    """Drop exact (and, if asked, near) duplicates, keeping the first of each.

    Kept lines are copied byte for byte from the input (invalid UTF-8, each line's own line ending, a BOM); the
    output is written atomically, through a symlink to its target, keeping the file's mode.
    """
    from .cli import UsageError, max_line_bytes, settings_from_args

    source = Path(args.input)
    if args.in_place and args.output:
        raise UsageError("give either -o OUT or --in-place, not both")
    if not args.in_place and not args.output:
        raise UsageError("give -o OUT for the deduplicated copy (or --in-place to replace the input)")
    if not source.exists() and not source.is_symlink():
        raise UsageError(f"{source}: no such file")
    target = source if args.in_place else Path(args.output)
    if not args.in_place and target.exists() and os.path.samefile(target, source):
        raise UsageError("-o names the input file; use --in-place to overwrite it")
    cap = max_line_bytes()
    settings = settings_from_args(args, source.parent)
    engine = Engine(settings)
    clean_stale_temps(Path(os.path.realpath(target)))  # left by a run killed mid-write, even if nothing is written now
    with open_regular(source) as fh:
        before = os.fstat(fh.fileno())
        try:
            report = check_stream(fh, engine, str(source), max_line_bytes=cap, line_ends=True)
        except OSError as exc:
            raise UsageError(f"{source}: cannot read: {exc.strerror or exc}") from None
        dataset, ends = report.dataset, report.line_ends
        assert ends is not None
        drop: dict[int, str] = {}
        first: dict[bytes, int] = {}
        for line in range(len(dataset)):
            key = dataset.result(line).dup_key
            if key is None:
                continue
            if key in first:
                drop[line] = f"exact duplicate of line {first[key] + 1}"
            else:
                first[key] = line
        mode = resolve_mode(args.near_duplicates, settings)
        if mode != "off":
            from .neardup.checks import near_duplicate_findings

            for f in near_duplicate_findings(
                dataset, _detector(mode, settings, args.near_duplicate_threshold), _progress("Embedding")
            ):
                kept_copy = f.related[0].line
                if f.line is not None and f.line not in drop and kept_copy not in drop:
                    drop[f.line] = f.message[0].lower() + f.message[1:].rstrip(".")
        ranges: list[tuple[int, int]] = []
        for line in range(len(dataset)):
            if line in drop:
                continue
            start = ends[line - 1] if line else 0
            if ranges and ranges[-1][1] == start:
                ranges[-1] = (ranges[-1][0], ends[line])
            else:
                ranges.append((start, ends[line]))
        now = os.fstat(fh.fileno())
        total = ends[-1] if len(ends) else 0
        if (now.st_size, now.st_mtime_ns) != (before.st_size, before.st_mtime_ns) or total != now.st_size:
            raise UsageError(f"{source}: the file changed while it was read; run dedupe again")
        if args.in_place and not drop:
            print(f"kept all {len(dataset):,} lines; {clean(str(source))} is unchanged")
            return 0
        try:
            atomic_write(target, _copy(fh, ranges), follow_symlinks=True, new_file_mode=default_file_mode())
        except OSError as exc:
            raise UsageError(f"{target}: cannot write: {exc.strerror or exc}") from None
    for line, why in sorted(drop.items()):
        print(f"dropped {clean(str(source))}:{line + 1}: {clean(why)}")
    print(f"kept {len(dataset) - len(drop):,} of {len(dataset):,} lines; wrote {clean(str(target))}")
    return 0


def add_near_duplicate_arguments(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--near-duplicates",
        nargs="?",
        const="auto",
        choices=["off", "lexical", "semantic", "auto"],
        help=f"{what} (alone: the semantic tier if the embed extra is installed, else lexical)",
    )
    parser.add_argument("--near-duplicate-threshold", type=float, help="cosine threshold for the semantic tier")


def register(sub) -> None:
    p = sub.add_parser("dedupe", help="write a copy without exact (and near) duplicates, keeping the first of each")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", metavar="OUT", help="where to write the deduplicated copy")
    p.add_argument("--in-place", action="store_true", help="replace IN (atomically)")
    add_near_duplicate_arguments(p, "also drop near duplicates")
    p.add_argument("--config", metavar="FILE", help="settings file to use (tuneline.toml-shaped, or [tool.tuneline])")
    p.set_defaults(func=cmd_dedupe)
