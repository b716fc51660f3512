"""`tuneline targets`: every provider tuneline judges files for, its rules and its models, in the terminal.

The text comes from the same data and the same wording as docs/targets.md (`targets.fact_text`), so the command,
the documentation and the verdicts cannot disagree. `--markdown` prints docs/targets.md itself.
"""

from __future__ import annotations

import argparse

from ..analysis.engine import target_model
from ..analysis.models import ModelTable
from ..analysis.targets import (
    ProviderRules,
    ProvidersFileError,
    Target,
    fact_text,
    load_providers,
    render_markdown,
    shipped_providers,
    token_limit,
)
from .common import UsageError, write_output

# The facts a reader compares across providers, in the order they matter when picking a target. Rows whose key is
# not a provider fact are drawn from several facts (and the model table) by `_ROW_TEXT` below.
_ROWS = (
    ("formats", "formats"),
    ("roles", "roles"),
    ("min_examples", "min examples"),
    ("max_examples", "max examples"),
    ("example_token_limit", "tokens/example"),
    ("file_size_limit", "file size"),
    ("images", "images"),
    ("image_models", "image models"),
    ("image_detail", "image detail"),
    ("content_forms", "content forms"),
    ("weight", "weight"),
    ("bom", "byte order mark"),
    ("epochs", "epochs"),
    ("tokenizer", "tokenizer"),
    ("new_jobs_end", "new jobs end"),
)


def _fact(p: ProviderRules, key: str) -> str:
    fact = getattr(p, key)
    return fact_text(key, fact.value, fact.verified)


def _list(words: list[str], last: str = "and") -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def _image_models(p: ProviderRules, models: ModelTable) -> str:
    """The models that fine-tune on images at this provider (models.toml `vision`), whoever lists them: Azure
    trains OpenAI's model names, so its answers live on OpenAI's rows."""
    images = p.images.value
    if images is None or images.accepted is None:
        return "not documented"
    if not images.accepted:
        return "none"
    facts = [(name, v) for name in models.names() if (v := models.models[name].vision_at(p.name)) is not None]
    takes = [name for name, v in facts if v.accepted]
    if not facts:
        return "not recorded per model (see the provider's list)"
    if not takes:
        return "none of the models tuneline lists"
    if len(takes) < len(facts):
        return f"only {_list(takes)} of the models tuneline lists"
    return _list(takes)


def _content_forms(p: ProviderRules) -> str:
    """Whether string content and content-part lists may share an example, and whether parts need an image."""
    mixed, bare = p.mixed_content.value, p.parts_without_images.value
    if mixed is False:
        parts = "all content parts with an image" if bare is False else "all content parts"
        return f"one form per example: all strings, or {parts}"
    if mixed is None and bare is None:
        return "not documented"
    text = "strings and content parts may mix" if mixed else "mixing strings and content parts: not documented"
    return text + ("; content parts need an image" if bare is False else "")


def _weight(p: ProviderRules) -> str:
    """Per-message `weight`: accepted at all, on which roles, and whether a message with images may carry 1."""
    if p.weight.value is None:
        return "not documented"
    if not p.weight.value:
        return "not accepted"
    roles = p.weight_roles.value
    text = f"0 or 1, on {_list(list(roles), 'or')} messages" if roles else "0 or 1"
    return text + ("; 0 on a message with images" if p.image_weight.value is False else "")


_ROW_TEXT = {
    "image_models": _image_models,
    "content_forms": lambda p, models: _content_forms(p),
    "weight": lambda p, models: _weight(p),
}


def _models(p: ProviderRules, models: ModelTable) -> list[str]:
    out = []
    for name in models.names():
        info = models.models[name]
        if info.provider != p.name:
            continue
        model = target_model(Target(p.name, name), models)
        limit = token_limit(Target(p.name, name), models)
        price = "price not recorded" if model.price is None else f"${model.price:.2f} per 1M training tokens"
        shutdown = f", shuts down {model.shutdown}" if model.shutdown else ""
        tokens = f"{limit:,} tokens/example" if limit else "tokens/example not recorded"
        out.append(f"{p.name}:{name}  ({tokens}, {price}{shutdown})")
    return out


def render_targets(providers: dict[str, ProviderRules], models: ModelTable, only: str | None = None) -> str:
    """One block per provider: its rules, then the models the model table lists for it (`--target` values)."""
    from ..training.preflight import backend_for  # the backend registry: light, no SDK

    width = max(len(label) for _, label in _ROWS)
    out: list[str] = []
    for name, p in providers.items():
        if only is not None and name != only:
            continue
        trains_with = backend_for(name)
        backend = f", trains with `tuneline train --backend {trains_with}`" if trains_with else ", no training backend"
        out.append(f"{name}  {p.title}{backend}")
        for key, label in _ROWS:
            text = _ROW_TEXT[key](p, models) if key in _ROW_TEXT else _fact(p, key)
            out.append(f"  {label:<{width}}  {text}")
        listed = _models(p, models)
        out.append(f"  {'models':<{width}}  " + (listed[0] if listed else "any: write --target " + name + ":MODEL"))
        out.extend(f"  {'':<{width}}  {m}" for m in listed[1:])
        out.append("")
    out.append("Sources and dates for every fact: docs/targets.md (`tuneline targets --markdown`).")
    return "\n".join(out) + "\n"


def cmd_targets(args: argparse.Namespace) -> int:
    try:
        providers = load_providers(args.providers_file) if args.providers_file else shipped_providers()
    except ProvidersFileError as exc:
        raise UsageError(str(exc)) from None
    if args.provider is not None and args.provider not in providers:
        raise UsageError(f"unknown provider {args.provider!r}; use {', '.join(providers)}")
    models = ModelTable()
    text = render_markdown(providers, models) if args.markdown else render_targets(providers, models, args.provider)
    write_output(text, machine=args.markdown)
    return 0


def register(sub) -> None:
    targets = sub.add_parser("targets", help="list the providers and models files are checked for, with their rules")
    targets.add_argument("provider", nargs="?", help="only this provider (openai, together, ...)")
    targets.add_argument("--markdown", action="store_true", help="print docs/targets.md (every fact with its source)")
    targets.add_argument(
        "--providers-file", metavar="FILE", help="read and check a providers file of the same shape as providers.toml"
    )
    targets.set_defaults(func=cmd_targets)
