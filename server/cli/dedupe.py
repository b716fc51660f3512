"""`tuneline dedupe`: a copy without exact (and, on request, near) duplicates, keeping the first of each.

Kept lines are copied byte for byte from the input (endings, invalid UTF-8 and all); the output is written
atomically, and `--in-place` keeps the file's mode and writes through a symlink to its target.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from ..analysis.engine import Engine
from ..analysis.report import check_stream
from ..fileio import atomic_write, clean_stale_temps, default_file_mode, open_regular
from ..output import clean
from .common import UsageError, max_line_bytes, settings_from_args
from .near_duplicates import (
    add_near_duplicate_arguments,
    detector_for,
    finish_writes_at_end,
    progress_printer,
    resolve_mode,
)


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
            from ..neardup.checks import near_duplicate_findings

            detector = detector_for(mode, settings, args.near_duplicate_threshold)
            finish_writes_at_end(detector)
            for f in near_duplicate_findings(dataset, detector, progress_printer("Embedding")):
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


def register(sub) -> None:
    p = sub.add_parser("dedupe", help="write a copy without exact (and near) duplicates, keeping the first of each")
    p.add_argument("input", metavar="IN")
    p.add_argument("-o", "--output", metavar="OUT", help="where to write the deduplicated copy")
    p.add_argument("--in-place", action="store_true", help="replace IN (atomically)")
    add_near_duplicate_arguments(p, "also drop near duplicates")
    p.add_argument("--config", metavar="FILE", help="settings file to use (tuneline.toml-shaped, or [tool.tuneline])")
    p.set_defaults(func=cmd_dedupe)
