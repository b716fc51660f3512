"""`tuneline rule` and `tuneline models`: the rule catalogue and the model table, for reading in a terminal."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..analysis.catalog import lookup
from ..analysis.engine import Engine
from ..analysis.models import ModelTable
from ..analysis.targets import Target, TargetError, family_tokenizer, fetch_command, is_gated, tokenizer_for
from ..output import render_rule, render_rule_table, render_rules_markdown
from ..token_counters import tokenizer_cached
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
    rows, missing = [], []
    for name in engine.models.names():
        m = engine.models.models[name]
        price = f"${m.price:.2f}/1M" if m.price is not None else "price unknown"
        shutdown = f"shutdown {m.shutdown} · " if m.shutdown else ""
        limit = f"limit {m.limit:>6,}" if m.limit_recorded else "limit not recorded"
        counted, repo = counted_with(m.provider, name, engine.models)
        if repo is not None and repo not in missing:
            missing.append(repo)
        rows.append(
            (name, m.provider, limit, price, f"tokenizer: {counted}", f"{shutdown}{m.source} (as of {m.as_of})")
        )
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(5)]
    for name, provider, limit, price, counted, about in rows:
        print(
            f"{name:{widths[0]}}  {provider:{widths[1]}}  {limit:{widths[2]}} · {price:{widths[3]}} · "
            f"{counted:{widths[4]}} · {about}"
        )
    if missing:
        print(
            "\nNot cached: that model's counts are o200k_base estimates (≈) until its tokenizer files are fetched "
            f"once (no weights): `{fetch_command('REPO')}`."
        )
        if any(is_gated(repo) for repo in missing):
            print("Gated: run `hf auth login` and accept the licence on the model page before the download.")
    return 0


def counted_with(provider: str, name: str, models: ModelTable) -> tuple[str, str | None]:
    """How a model's tokens are counted, in a few words: tiktoken's encoding, the model folder's own tokenizer, or
    an open model's Hugging Face repo and whether it is in the user's cache (looked up offline, as a check does);
    plus that repo when a fetch would make its counts exact."""
    try:
        target = Target(provider, name)
        tokenizer = tokenizer_for(target, models)
    except TargetError:
        return "unknown (no such provider)", None
    if tokenizer.kind == "tiktoken":
        return f"tiktoken {tokenizer.encoding}", None
    if provider == "local":
        return "the model folder's own", None
    choice = family_tokenizer(target, models)
    if choice is None:
        return "none recorded (o200k_base estimates)", None
    cached = tokenizer_cached(choice.name)
    if cached is None:
        return f"{choice.name} (counting needs tuneline[local])", None
    if cached:
        return f"{choice.name} (cached)", None
    return f"{choice.name} (not cached{', gated' if is_gated(choice.name) else ''})", choice.name


def register(sub) -> None:
    rule = sub.add_parser("rule", help="explain a rule, or list them all")
    rule.add_argument("code", nargs="?", help="a code (TL105) or name (unknown-role)")
    rule.add_argument("--all", action="store_true")
    rule.add_argument("--markdown", action="store_true", help="with --all: the rules reference as markdown")
    rule.set_defaults(func=cmd_rule)

    models = sub.add_parser("models", help="list known models with limits, prices, shutdown dates and tokenizers")
    models.set_defaults(func=cmd_models)
