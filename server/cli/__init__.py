"""`tuneline`: check datasets, explain rules, serve the editor, train and follow runs.

One module per command, each with `register(subparsers)`; what they share is in `common.py`. Exit codes: 0 no
error-severity finding, 1 at least one, 2 usage or I/O error (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..analysis.collector import tune_for_batch
from ..analysis.config import ConfigError
from ..fileio import FileRefused
from . import check, completion, dedupe, evaluate, reference, serve, targets
from .common import CommandListFormatter, OneLineParser, UsageError

__all__ = ["UsageError", "build_parser", "main"]


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


def main(argv: list[str] | None = None) -> int:
    words = sys.argv[1:] if argv is None else argv
    # the command is the first word: the top-level options (--help, --version) take no value
    args = build_parser(next((w for w in words if not w.startswith("-")), None)).parse_args(argv)
    if args.command in ("check", "dedupe"):  # one-shot analyses; a server or a training run keeps the defaults
        tune_for_batch()
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
