"""`tuneline check`: findings, tokens and cost for files, folders or standard input.

Files are opened only when they are regular files (a FIFO or a device would hang or never end); folders are
walked for `*.jsonl` without following symlinks to folders.
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from ..analysis.engine import Engine
from ..analysis.report import FileReport, check_stream
from ..fileio import FileRefused, kind_of, open_regular
from ..output import FORMATTERS
from .common import (
    UsageError,
    add_target_arguments,
    build_engine,
    color,
    max_line_bytes,
    note,
    positive_int,
    settings_from_args,
    write_output,
)
from .near_duplicates import add_near_duplicate_arguments, add_near_duplicates, resolve_mode


@dataclass(slots=True)
class Target:
    """A file to check: named on the command line (explicit) or found in a folder; None is standard input."""

    path: Path | None
    explicit: bool = True


@dataclass(slots=True)
class Problems:
    """Paths that could not be read while walking folders: warned about one line each, exit code 2 at the end."""

    count: int = 0

    def warn(self, message: str) -> None:
        self.count += 1
        print(f"tuneline: warning: {message}", file=sys.stderr)


def _walk(root: Path, problems: Problems) -> list[Path]:
    """The *.jsonl files under `root` (hidden files and folders left out; symlinks to folders are not followed, so a
    link to `/` or a loop cannot send the walk through the whole disk).

    An unreadable folder or file is a warning (the run ends with exit code 2: data was left unchecked); a
    non-regular file with a .jsonl name (a FIFO, a device, a broken symlink) is skipped with a note, never opened.
    """
    found: list[Path] = []

    def unreadable(exc: OSError) -> None:
        problems.warn(f"{exc.filename}: cannot read this folder ({exc.strerror}); the files in it were not checked")

    for folder, dirs, names in os.walk(root, onerror=unreadable):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in names:
            if not name.endswith(".jsonl") or name.startswith("."):
                continue
            path = Path(folder) / name
            try:
                mode = path.stat().st_mode
            except FileNotFoundError:
                note(f"{path}: skipped: a broken symlink")
                continue
            except OSError as exc:
                problems.warn(f"{path}: cannot read: {exc.strerror or exc}; not checked")
                continue
            if not stat.S_ISREG(mode):
                note(f"{path}: skipped: {kind_of(mode)}, not a regular file")
                continue
            found.append(path)
    return sorted(found)


def _dataset_files(paths: list[str], problems: Problems) -> list[Target]:
    """Expand folders into their *.jsonl files; '-' stands for standard input."""
    out: list[Target] = []
    for raw in paths:
        if raw == "-":
            out.append(Target(None))
            continue
        path = Path(raw)
        if path.is_dir():
            found = _walk(path, problems)
            if not found and not problems.count:
                raise UsageError(f"{raw}: no *.jsonl files in this folder")
            out.extend(Target(p, explicit=False) for p in found)
        elif path.exists() or path.is_symlink():
            out.append(Target(path))  # opening it tells a regular file from anything else
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return out


def _stdin() -> BinaryIO:
    """Standard input, if there is something a dataset can be read from."""
    stream = sys.stdin
    try:
        if stream is None:
            raise ValueError
        fd = stream.fileno()
        mode = os.fstat(fd).st_mode
    except (OSError, ValueError, AttributeError):
        raise UsageError("-: standard input is closed; pipe a dataset in, or name a file") from None
    if stat.S_ISDIR(mode):
        raise UsageError("-: standard input is a folder; name the folder instead")
    if stat.S_ISCHR(mode) and not os.isatty(fd) and not _is_dev_null(fd):
        raise UsageError("-: standard input is a character device that never ends; pipe a dataset in")
    return stream.buffer


def _is_dev_null(fd: int) -> bool:
    try:
        return os.fstat(fd).st_rdev == os.stat(os.devnull).st_rdev
    except OSError:
        return False


def _check_one(
    target: Target, engine: Engine, args: argparse.Namespace, cap: int, problems: Problems
) -> FileReport | None:
    """The report for one target, or None when a file found in a folder could not be read (warned about). A
    one-shot check analyses each line once: the engine's cache need not adopt the workers' results."""
    if target.path is None:
        return check_stream(_stdin(), engine, "-", jobs=args.jobs, max_line_bytes=cap, adopt=False)
    try:
        fh = open_regular(target.path)
    except FileRefused as exc:
        if target.explicit:
            raise UsageError(str(exc)) from None
        problems.warn(f"{exc}; not checked")
        return None
    with fh:
        try:
            return check_stream(fh, engine, str(target.path), jobs=args.jobs, max_line_bytes=cap, adopt=False)
        except OSError as exc:  # an I/O error mid-read (a disk, a network share)
            raise UsageError(f"{target.path}: cannot read: {exc.strerror or exc}") from None


def cmd_check(args: argparse.Namespace) -> int:
    if args.watch:
        from .watch import watch_check

        return watch_check(args, _dataset_files)
    problems = Problems()
    targets = _dataset_files(args.paths, problems)
    cap = max_line_bytes()
    first = next((t.path for t in targets if t.path is not None), Path.cwd())
    settings = settings_from_args(args, first if first.is_dir() else first.parent)
    engine = build_engine(settings)
    reports: list[FileReport] = []
    for target in targets:
        report = _check_one(target, engine, args, cap, problems)
        if report is not None:
            reports.append(report)
    add_near_duplicates(reports, engine, resolve_mode(args.near_duplicates, settings), args.near_duplicate_threshold)
    formatter = FORMATTERS[args.format]
    text = formatter(reports, engine, color=color(args), show_summary=not args.no_summary)
    write_output(text, machine=args.format != "text")
    if problems.count:
        return 2
    return 1 if any(r.errors for r in reports) else 0


def register(sub) -> None:
    check = sub.add_parser("check", help="check datasets and print findings, tokens and cost")
    check.add_argument("paths", nargs="+", metavar="PATH", help="JSONL files or folders ('-' for stdin)")
    add_target_arguments(check)
    check.add_argument("--epochs", help="epochs, or 'auto' for the target's default (OpenAI: its heuristic)")
    check.add_argument("--select", help="only these rules (codes, names or prefixes, comma separated)")
    check.add_argument("--extend-select", help="add rules to the selection")
    check.add_argument("--ignore", help="skip these rules")
    check.add_argument("--format", choices=sorted(FORMATTERS), default="text")
    check.add_argument(
        "--config",
        metavar="FILE",
        help="settings file to use instead of discovery (tuneline.toml-shaped, or [tool.tuneline])",
    )
    check.add_argument("--no-summary", action="store_true", help="findings only")
    check.add_argument("--no-secrets", action="store_true", help="skip the secret scan (TL401)")
    add_near_duplicate_arguments(check, "find near duplicates (TL302)")
    check.add_argument("--color", choices=["auto", "always", "never"], default="auto")
    check.add_argument(
        "--jobs", type=positive_int, default=None, help="worker processes for large files (default: all cores)"
    )
    check.add_argument("--watch", action="store_true", help="check again whenever a dataset or the settings change")
    check.add_argument("--no-clear", action="store_true", help="with --watch: keep earlier checks on the screen")
    check.set_defaults(func=cmd_check)
