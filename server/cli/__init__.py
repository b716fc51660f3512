"""`tuneline`: check datasets, explain rules, serve the editor, train and follow runs.

One module per command, each with `register(subparsers)`; what they share is in `common.py`. Exit codes: 0 no
error-severity finding, 1 at least one, 2 usage or I/O error (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import sys

from .. import __version__
from ..analysis.config import ConfigError
from ..fileio import FileRefused
from . import check, dedupe, reference, serve
from .common import UsageError

__all__ = ["UsageError", "build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tuneline", description="Lint, measure and train on fine-tuning JSONL datasets."
    )
    parser.add_argument("--version", action="version", version=f"tuneline {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in (check, reference, serve, dedupe):
        command.register(sub)
    from ..training import commands as training  # train and runs: light until a command runs

    training.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
