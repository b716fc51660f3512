"""`tuneline`: check datasets, explain rules, serve the editor, train and follow runs.

One module per command, each with `register(subparsers)`; what they share is in `common.py`. Exit codes: 0 no
error-severity finding, 1 at least one, 2 usage or I/O error (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from typing import NoReturn

from .. import __version__
from ..analysis.collector import tune_for_batch
from ..analysis.config import ConfigError
from ..fileio import FileRefused
from . import check, completion, dedupe, evaluate, reference, serve, targets
from .common import CommandListFormatter, OneLineParser, UsageError, run_at_end

__all__ = ["UsageError", "build_parser", "main", "run"]


# The commands registered by this package's modules: a command line naming one of them builds only its parser.
_OWN = {
    "check": check,
    "rule": reference,
    "models": reference,
    "serve": serve,
    "dedupe": dedupe,
    "targets": targets,
    "eval": evaluate,
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line's parser; with `command` (one of `_OWN`), a parser that knows that command alone.
    Why: every command's registration, with the training commands' imports, took ~15 ms of each run, 7% of a
    `check` of a small file, for parsers the run never uses. Help, completion and unknown words get them all."""
    parser = OneLineParser(
        prog="tuneline",
        description="Lint, measure and train on fine-tuning JSONL datasets.",
        epilog="`tuneline COMMAND --help` for a command's options.",
        formatter_class=CommandListFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tuneline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    if command in _OWN:
        _OWN[command].register(sub)
        return parser
    for module in (check, reference, serve, dedupe, targets, evaluate):
        module.register(sub)
    from ..training import commands as training  # train and runs: light until a command runs

    training.register(sub)
    completion.register(sub, parser)
    return parser


_quick_exit = False  # set by `main`: the command may end its process without tearing down its heap (`run`)


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # the command is the first word: the top-level options (--help, --version) take no value
    args = build_parser(next((w for w in words if not w.startswith("-")), None)).parse_args(argv)
    if args.command in ("check", "dedupe"):  # one-shot analyses; a server or a training run keeps the defaults
        tune_for_batch()
    global _quick_exit
    _quick_exit = args.command == "check" and not args.watch
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
    finally:
        run_at_end()


def run() -> NoReturn:
    """The console script's entry, and `python -m tuneline`'s: `main`, then exit. After a one-shot `check` the process
    ends without freeing its objects one by one, as mypy's command line does.

    Why: a 100k-line `check` holds ~300 MB of lines, results and rule state, and the interpreter's teardown took
    45-76 ms to free them (22-36 ms at 20k lines), after the report was out (#14). A `check` writes nothing but its
    output, flushed here, and cache files, each closed when written; anything that raises leaves the ordinary way.
    `main` itself returns, for callers in the same process."""
    code = main()
    if _quick_exit:
        for stream in (sys.stdout, sys.stderr):
            # a closed pipe (`check | head`): what was written is all that can be
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        os._exit(code)
    sys.exit(code)
