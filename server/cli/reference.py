"""`tuneline rule` and `tuneline models`: the rule catalogue and the model table, for reading in a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis.catalog import lookup
from ..analysis.engine import Engine
from ..output import render_rule, render_rule_table, render_rules_markdown
from .common import UsageError, settings_from_args


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
        limit = f"limit {m.limit:>6,}" if m.limit_recorded else "limit not recorded"
        print(f"{name:52} {m.provider:9} {limit} · {price}{shutdown} · {m.source} (as of {m.as_of})")
    return 0


def register(sub) -> None:
    rule = sub.add_parser("rule", help="explain a rule, or list them all")
    rule.add_argument("code", nargs="?", help="a code (TL105) or name (unknown-role)")
    rule.add_argument("--all", action="store_true")
    rule.add_argument("--markdown", action="store_true", help="with --all: the rules reference as markdown")
    rule.set_defaults(func=cmd_rule)

    models = sub.add_parser("models", help="list known models with limits, prices and shutdown dates")
    models.set_defaults(func=cmd_models)
