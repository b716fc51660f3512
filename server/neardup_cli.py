"""The command-line side of near duplicates: `check --near-duplicates`, train/validation overlap, `dedupe`."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .analysis.config import Settings
from .analysis.engine import Dataset, Engine
from .analysis.lines import decode_bytes
from .analysis.report import FileReport
from .fileio import atomic_write_text


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
                train_lines = other.dataset.texts if other else decode_bytes(train.read_bytes()).lines
                near = detector() if mode != "off" else None
                report.dataset.set_external("overlap", overlap_findings(report.dataset, train_lines, train, near))
        report.refresh()


def cmd_dedupe(args: argparse.Namespace) -> int:
    from .cli import UsageError, settings_from_args

    source = Path(args.input)
    if not source.is_file():
        raise UsageError(f"{source}: no such file")
    if args.in_place and args.output:
        raise UsageError("give either -o OUT or --in-place, not both")
    if not args.in_place and not args.output:
        raise UsageError("give -o OUT for the deduplicated copy (or --in-place to replace the input)")
    target = source if args.in_place else Path(args.output)
    if not args.in_place and target.resolve() == source.resolve():
        raise UsageError("-o names the input file; use --in-place to overwrite it")
    settings = settings_from_args(args, source.parent)
    engine = Engine(settings)
    raw = source.read_bytes()
    lines = decode_bytes(raw).lines
    dataset = Dataset(engine, lines)
    drop: dict[int, str] = {}
    for f in dataset.findings():
        if f.code == "TL301" and f.line is not None:
            drop[f.line] = f"exact duplicate of line {f.related[0].line + 1}"
    mode = resolve_mode(args.near_duplicates, settings)
    if mode != "off":
        from .neardup.checks import near_duplicate_findings

        for f in near_duplicate_findings(
            dataset, _detector(mode, settings, args.near_duplicate_threshold), _progress("Embedding")
        ):
            first = f.related[0].line
            if f.line not in drop and first not in drop:
                drop[f.line] = f.message[0].lower() + f.message[1:].rstrip(".")
    kept = [line for i, line in enumerate(lines) if i not in drop]
    newline = "\r\n" if b"\r\n" in raw[:65536] else "\n"
    text = newline.join(kept) + (newline if kept else "")
    atomic_write_text(target, text, newline="")
    for line, why in sorted(drop.items()):
        print(f"dropped {source}:{line + 1}: {why}")
    print(f"kept {len(kept):,} of {len(lines):,} lines; wrote {target}")
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
    p.add_argument("--config", help="a tuneline.toml or pyproject.toml to use")
    p.set_defaults(func=cmd_dedupe)
