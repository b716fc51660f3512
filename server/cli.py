"""`tuneline`: check datasets, explain rules, serve the editor, train and follow runs.

Exit codes: 0 no error-severity finding, 1 at least one, 2 usage or I/O error (a message, never a traceback).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .analysis.catalog import lookup
from .analysis.config import ConfigError, Settings, load_settings
from .analysis.engine import Engine
from .analysis.report import FileReport, check_bytes
from .neardup_cli import add_near_duplicate_arguments
from .output import FORMATTERS, render_rule, render_rule_table, render_rules_markdown


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


def _dataset_files(paths: list[str]) -> list[Path | None]:
    """Expand folders into their *.jsonl files; '-' stands for standard input (None)."""
    out: list[Path | None] = []
    for raw in paths:
        if raw == "-":
            out.append(None)
            continue
        path = Path(raw)
        if path.is_dir():
            found = sorted(p for p in path.rglob("*.jsonl") if not any(part.startswith(".") for part in p.parts))
            if not found:
                raise UsageError(f"{raw}: no *.jsonl files in this folder")
            out.extend(found)
        elif path.exists():
            out.append(path)
        else:
            raise UsageError(f"{raw}: no such file or folder")
    return out


def _codes(value: str) -> list[str]:
    return [v for v in value.replace(" ", ",").split(",") if v]


def settings_from_args(args: argparse.Namespace, start: Path) -> Settings:
    """Project settings (tuneline.toml / [tool.tuneline]) with command-line flags on top."""
    if getattr(args, "config", None):
        settings = load_settings(Path(args.config))
    else:
        settings = load_settings(start)
    flags: dict[str, object] = {}
    if getattr(args, "model", None):
        flags["model"] = args.model
    if getattr(args, "epochs", None):
        flags["epochs"] = "auto" if args.epochs == "auto" else _int(args.epochs, "--epochs")
    if getattr(args, "select", None):
        flags["select"] = _codes(args.select)
    if getattr(args, "extend_select", None):
        flags["select"] = [*settings.select, *_codes(args.extend_select)]
    if getattr(args, "ignore", None):
        flags["ignore"] = [*settings.ignore, *_codes(args.ignore)]
    if getattr(args, "no_secrets", False):
        flags["secrets"] = False
    return settings.merged(flags, "command line") if flags else settings


def _int(value: str, flag: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise UsageError(f"{flag} must be a number or 'auto', not {value!r}") from None


def cmd_check(args: argparse.Namespace) -> int:
    files = _dataset_files(args.paths)
    first = next((p for p in files if p is not None), Path.cwd())
    settings = settings_from_args(args, first if first.is_dir() else first.parent)
    engine = Engine(settings)
    reports: list[FileReport] = []
    for path in files:
        try:
            data = sys.stdin.buffer.read() if path is None else path.read_bytes()
        except OSError as exc:
            raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
        reports.append(check_bytes(data, engine, "-" if path is None else str(path), jobs=args.jobs))
    from .neardup_cli import add_near_duplicates, resolve_mode

    add_near_duplicates(reports, engine, resolve_mode(args.near_duplicates, settings), args.near_duplicate_threshold)
    formatter = FORMATTERS[args.format]
    sys.stdout.write(formatter(reports, engine, color=_color(args), show_summary=not args.no_summary))
    sys.stdout.flush()
    return 1 if any(r.errors for r in reports) else 0


def _color(args: argparse.Namespace) -> bool:
    import os

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
    check.add_argument("--config", help="a tuneline.toml or pyproject.toml to use instead of discovery")
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
    except (UsageError, ConfigError) as exc:
        print(f"tuneline: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("tuneline: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
