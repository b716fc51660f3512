"""`tuneline`: check datasets, explain rules, serve the editor, train and follow runs.

Exit codes: 0 no error-severity finding, 1 at least one, 2 usage or I/O error (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .analysis.catalog import lookup
from .analysis.config import ConfigError, Settings, load_config_file, load_settings
from .analysis.engine import Engine
from .analysis.report import MAX_LINE_BYTES, FileReport, check_stream
from .fileio import FileRefused, kind_of, open_regular
from .neardup_cli import add_near_duplicate_arguments
from .output import FORMATTERS, render_rule, render_rule_table, render_rules_markdown


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


MAX_LINE_ENV = "TUNELINE_MAX_LINE_BYTES"


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


def note(message: str) -> None:
    print(f"tuneline: note: {message}", file=sys.stderr)


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


def max_line_bytes() -> int:
    """The per-line size cap: 64 MiB, or TUNELINE_MAX_LINE_BYTES (bytes) for machines with more (or less) memory."""
    raw = os.environ.get(MAX_LINE_ENV, "").strip()
    if not raw:
        return MAX_LINE_BYTES
    if not raw.isdigit() or int(raw) < 1:
        raise UsageError(f"{MAX_LINE_ENV} must be a number of bytes, not {raw!r}")
    return int(raw)


def _codes(value: str) -> list[str]:
    return [v for v in value.replace(" ", ",").split(",") if v]


def settings_from_args(args: argparse.Namespace, start: Path) -> Settings:
    """Project settings (tuneline.toml / [tool.tuneline], or the file `--config` names) with command-line flags on
    top."""
    if getattr(args, "config", None):
        settings = load_config_file(Path(args.config))
    else:
        settings = load_settings(start)
    flags: dict[str, object] = {}
    if getattr(args, "model", None):
        flags["model"] = args.model
    if getattr(args, "epochs", None) is not None:
        flags["epochs"] = _epochs(args.epochs)
    if getattr(args, "select", None):
        flags["select"] = _codes(args.select)
    if getattr(args, "extend_select", None):
        flags["select"] = [*settings.select, *_codes(args.extend_select)]
    if getattr(args, "ignore", None):
        flags["ignore"] = [*settings.ignore, *_codes(args.ignore)]
    if getattr(args, "no_secrets", False):
        flags["secrets"] = False
    return settings.merged(flags, "command line") if flags else settings


def _epochs(value: str) -> int | str:
    if value.strip().lower() == "auto":
        return "auto"
    try:
        epochs = int(value)
    except ValueError:
        raise UsageError(f"--epochs must be a number from 1 to 50 or 'auto', not {value!r}") from None
    if not 1 <= epochs <= 50:
        raise UsageError(f"--epochs must be a number from 1 to 50 or 'auto', not {epochs}")
    return epochs


def _check_one(
    target: Target, engine: Engine, args: argparse.Namespace, cap: int, problems: Problems
) -> FileReport | None:
    """The report for one target, or None when a file found in a folder could not be read (warned about)."""
    if target.path is None:
        return check_stream(_stdin(), engine, "-", jobs=args.jobs, max_line_bytes=cap)
    try:
        fh = open_regular(target.path)
    except FileRefused as exc:
        if target.explicit:
            raise UsageError(str(exc)) from None
        problems.warn(f"{exc}; not checked")
        return None
    with fh:
        try:
            return check_stream(fh, engine, str(target.path), jobs=args.jobs, max_line_bytes=cap)
        except OSError as exc:  # an I/O error mid-read (a disk, a network share)
            raise UsageError(f"{target.path}: cannot read: {exc.strerror or exc}") from None


def cmd_check(args: argparse.Namespace) -> int:
    problems = Problems()
    targets = _dataset_files(args.paths, problems)
    cap = max_line_bytes()
    first = next((t.path for t in targets if t.path is not None), Path.cwd())
    settings = settings_from_args(args, first if first.is_dir() else first.parent)
    engine = Engine(settings)
    reports: list[FileReport] = []
    for target in targets:
        report = _check_one(target, engine, args, cap, problems)
        if report is not None:
            reports.append(report)
    from .neardup_cli import add_near_duplicates, resolve_mode

    add_near_duplicates(reports, engine, resolve_mode(args.near_duplicates, settings), args.near_duplicate_threshold)
    formatter = FORMATTERS[args.format]
    text = formatter(reports, engine, color=_color(args), show_summary=not args.no_summary)
    write_output(text, machine=args.format != "text")
    if problems.count:
        return 2
    return 1 if any(r.errors for r in reports) else 0


def write_output(text: str, *, machine: bool) -> None:
    """Write a report whatever it quotes: machine formats are always UTF-8; text goes in the terminal's encoding.
    Anything that cannot be encoded (a lone surrogate from a JSON escape in the data) is written as its escape."""
    stream = sys.stdout
    if stream is None:
        raise UsageError("standard output is closed")
    encoding = "utf-8" if machine else (stream.encoding or "utf-8")
    data = text.encode(encoding, "backslashreplace")
    stream.flush()
    stream.buffer.write(data)
    stream.buffer.flush()


def _color(args: argparse.Namespace) -> bool:
    if args.color == "always":
        return True
    if args.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


def cmd_rule(args: argparse.Namespace) -> int:
    if args.all or not args.code:
        sys.stdout.write(render_rules_markdown() if args.markdown else render_rule_table())
        return 0
    rule = lookup(args.code)
    if rule is None:
        raise UsageError(f"unknown rule {args.code!r}; `tuneline rule --all` lists them")
    sys.stdout.write(render_rule(rule))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    engine = Engine(settings_from_args(args, Path.cwd()))
    for name in engine.models.names():
        m = engine.models.models[name]
        price = f"${m.price:.2f}/1M" if m.price is not None else "price unknown"
        shutdown = f" · shutdown {m.shutdown}" if m.shutdown else ""
        print(f"{name:52} {m.provider:9} limit {m.limit:>6,} · {price}{shutdown} · {m.source} (as of {m.as_of})")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .lsp.server import run
    except ImportError as exc:
        raise UsageError(
            f"the language server needs the 'lsp' extra: pip install 'tuneline[lsp]' ({exc.name} is missing)"
        ) from None
    return run(tcp=args.tcp)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneline", description="Lint, measure and train on fine-tuning JSONL datasets."
    )
    parser.add_argument("--version", action="version", version=f"tuneline {_version()}")
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="check datasets and print findings, tokens and cost")
    check.add_argument("paths", nargs="+", metavar="PATH", help="JSONL files or folders ('-' for stdin)")
    check.add_argument("--model", help="target model (default gpt-4o-mini-2024-07-18)")
    check.add_argument("--epochs", help="epochs, or 'auto' for OpenAI's heuristic (default)")
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
    check.add_argument("--jobs", type=int, default=None, help="worker processes for large files (default: all cores)")
    check.set_defaults(func=cmd_check)

    rule = sub.add_parser("rule", help="explain a rule, or list them all")
    rule.add_argument("code", nargs="?", help="a code (TL105) or name (unknown-role)")
    rule.add_argument("--all", action="store_true")
    rule.add_argument("--markdown", action="store_true", help="with --all: the rules reference as markdown")
    rule.set_defaults(func=cmd_rule)

    models = sub.add_parser("models", help="list known models with limits, prices and shutdown dates")
    models.set_defaults(func=cmd_models)

    serve = sub.add_parser("serve", help="run the language server (stdio by default)")
    serve.add_argument("--stdio", action="store_true", help="talk LSP over stdin/stdout (the default)")
    serve.add_argument("--tcp", metavar="HOST:PORT", help="listen on TCP instead, for debugging")
    serve.set_defaults(func=cmd_serve)

    _register_optional(sub)
    return parser


def _register_optional(sub) -> None:
    """Commands whose code lives in other packages register themselves when importable."""
    for module in ("tuneline.training.cli", "tuneline.neardup_cli"):
        try:
            mod = __import__(module, fromlist=["register"])
        except ImportError:
            continue
        mod.register(sub)


def _version() -> str:
    from . import __version__

    return __version__


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except (UsageError, ConfigError, FileRefused) as exc:
        print(f"tuneline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tuneline: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
