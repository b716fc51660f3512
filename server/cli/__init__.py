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


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="tuneline",
        description="Lint, measure and train on fine-tuning JSONL datasets.",
        epilog="`tuneline COMMAND --help` for a command's options.",
        formatter_class=CommandListFormatter,
    )
    parser.add_argument("--version", action="version", version=f"tuneline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND", title="commands")
    for command in (check, reference, serve, dedupe, targets, evaluate):
        command.register(sub)
    from ..training import commands as training  # train and runs: light until a command runs

    training.register(sub)
    completion.register(sub, parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
