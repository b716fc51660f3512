"""What every command shares: the usage error (exit 2), notes on stderr, settings from flags, output writing.

Command modules import from here and never from each other, so `tuneline.training`'s commands can take the same
helpers without importing a command module (that made `cli` and `neardup_cli` import each other).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import NoReturn

from ..analysis.config import Settings, load_config_file, load_settings
from ..analysis.engine import Engine
from ..analysis.epochs import EpochsError, parse_epochs
from ..analysis.report import MAX_LINE_BYTES
from ..analysis.targets import METHODS, ProvidersFileError, Target, TargetError
from ..token_counters import CounterUnavailable, exact_engine

_AT_END: list[Callable[[], None]] = []


def at_end(finish: Callable[[], None]) -> None:
    """Have `finish` run when the command is done, after its output is written (`main` runs them): work the user
    need not wait for before reading the report, such as the near-duplicate pass's embedding cache writes."""
    _AT_END.append(finish)


def run_at_end() -> None:
    """Run what `at_end` was given, in order; an interrupt (the report is out) ends them quietly."""
    try:
        while _AT_END:
            _AT_END.pop(0)()
    except KeyboardInterrupt:
        _AT_END.clear()


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


class OneLineParser(argparse.ArgumentParser):
    """argparse, with its usage errors as one line on stderr and exit code 2, like every other tuneline error: the
    usage block argparse prints first would bury the one sentence that matters. Subcommands inherit the class."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"tuneline: error: {' '.join(message.split())} (see `{self.prog} --help`)\n")


def positive_int(text: str) -> int:
    """An argparse type: a whole number of at least 1 (`--jobs 0` would otherwise mean one job, silently)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is less than 1")
    return value


def unit_fraction(text: str) -> float:
    """An argparse type: a number in (0, 1], as the settings' nearDuplicateThreshold (a cosine of -1 pairs every
    example with every other; NaN pairs none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 < value <= 1.0:  # also refuses nan
        raise argparse.ArgumentTypeError(f"{text!r} is not a number in (0, 1]")
    return value


MAX_LINE_ENV = "TUNELINE_MAX_LINE_BYTES"


def note(message: str) -> None:
    print(f"tuneline: note: {message}", file=sys.stderr)


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
    target, method = getattr(args, "target", None), getattr(args, "method", None)
    if target is not None and getattr(args, "model", None):
        raise UsageError("give --target PROVIDER:MODEL or --model MODEL, not both")
    if method is not None and method not in (*METHODS, "auto"):
        raise UsageError(f"--method must be sft, dpo, rft or auto, not {method!r}")
    if target is not None:
        try:
            flags["target"] = str(Target.parse(target, None if method == "auto" else method))
        except TargetError as exc:
            raise UsageError(str(exc)) from None
    if method is not None:
        flags["method"] = method  # "auto" clears a method the project's settings name
    if getattr(args, "model", None):
        flags["model"] = args.model
    if getattr(args, "tokenizer", None) is not None:
        if not args.tokenizer.strip():
            raise UsageError("--tokenizer is empty; give a folder of tokenizer files or a Hugging Face repo id")
        flags["tokenizer"] = args.tokenizer
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


def build_engine(settings: Settings) -> Engine:
    """The engine for these settings; a target the provider rules refuse (no such provider, a method it lacks, an
    unreadable providers file) is a usage error in one sentence."""
    try:
        engine, estimates = exact_engine(settings, details=False)  # no outline or hover in a terminal
    except (TargetError, ProvidersFileError, CounterUnavailable) as exc:
        raise UsageError(str(exc)) from None
    if estimates:
        note(estimates)
    if engine.example_counter is not None:
        return engine
    if settings.tokenizer and engine.target.provider != "local" and engine.family_tokenizer is None:
        note(f"the tokenizer setting is not used: {engine.target} counts with {_counted_with(engine)}.")
    return engine


def _counted_with(engine: Engine) -> str:
    tok = engine.tokenizer
    return f"tiktoken {tok.encoding}" if tok.kind == "tiktoken" else "the model folder's own tokenizer"


def add_target_arguments(parser: argparse.ArgumentParser) -> None:
    """--target, --method and --model: where the file will train (the verdicts, limits and prices follow it)."""
    parser.add_argument(
        "--target",
        metavar="PROVIDER:MODEL",
        help="where the file will train: openai, azure, together, fireworks, openai-compatible or local, then the "
        "model (together:Qwen/Qwen2.5-7B-Instruct, local:./models/tiny). `tuneline targets` lists them",
    )
    parser.add_argument(
        "--method",
        metavar="METHOD",
        help="sft, dpo or rft (OpenAI and Azure only); default (auto): follow the file's format",
    )
    parser.add_argument(
        "--model", help="a model name; the provider comes from the model table (default gpt-4o-mini-2024-07-18)"
    )
    parser.add_argument(
        "--tokenizer",
        metavar="PATH_OR_HUB_ID",
        help="count an open model's tokens (together, fireworks, openai-compatible) with this tokenizer: a folder of "
        "tokenizer files or a Hugging Face repo id in your cache (default: the model table's, when cached)",
    )


def _epochs(value: str) -> int | str:
    try:
        epochs = parse_epochs(value, "--epochs")
    except EpochsError as exc:
        raise UsageError(str(exc)) from None
    return "auto" if epochs is None else epochs


_OUTPUT_BATCH = 1 << 20  # characters encoded and written at a time when the text comes in pieces


def write_output(text: str | list[str], *, machine: bool) -> None:
    """Write a report whatever it quotes: machine formats are always UTF-8; text goes in the terminal's encoding.
    Anything that cannot be encoded (a lone surrogate from a JSON escape in the data) is written as its escape.
    `text` may come as its pieces, which are written about a megabyte at a time, never joined whole (the same bytes:
    the error handler works character by character)."""
    stream = sys.stdout
    if stream is None:
        raise UsageError("standard output is closed")
    encoding = "utf-8" if machine else (stream.encoding or "utf-8")
    stream.flush()
    if isinstance(text, str):
        stream.buffer.write(text.encode(encoding, "backslashreplace"))
    else:
        batch: list[str] = []
        size = 0
        for piece in text:
            batch.append(piece)
            size += len(piece)
            if size >= _OUTPUT_BATCH:
                stream.buffer.write("".join(batch).encode(encoding, "backslashreplace"))
                batch, size = [], 0
        stream.buffer.write("".join(batch).encode(encoding, "backslashreplace"))
    stream.buffer.flush()


def color(args: argparse.Namespace) -> bool:
    if args.color == "always":
        return True
    if args.color == "never" or os.environ.get("NO_COLOR"):
        return False
    return sys.stdout.isatty()


class CommandListFormatter(argparse.HelpFormatter):
    """`tuneline --help`: one line per command, whatever the terminal's width (argparse would wrap at it).

    argparse measures a subcommand's name without the indent it prints it with, so a name as long as `completion`
    would push its help to the next line; the column is widened to fit the longest name as printed."""

    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=24, width=120)

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max((len(name) for name in action.choices), default=0)
            self._action_max_length = max(
                self._action_max_length, self._current_indent + 2 * self._indent_increment + longest
            )
