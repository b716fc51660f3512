"""Provider facts the hosted backends read: formats per method from `providers.toml` (the analysis side's data
file), and run-time facts (upload limits, API versions, pricing pages) from `hosted.toml` beside this module.

Facts live in data with their source and date, never in code, so correcting one is a reviewed data change.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

HOSTED = Path(__file__).with_name("hosted.toml")


@lru_cache(maxsize=1)
def _hosted() -> dict[str, Any]:
    with HOSTED.open("rb") as fh:
        return tomllib.load(fh)


def fact(provider: str, key: str) -> Any:
    """The value of a run-time fact in hosted.toml (KeyError names a fact the file lacks: a packaging bug)."""
    return _hosted()[provider][key]["value"]


def source(provider: str, key: str) -> str:
    return str(_hosted()[provider][key]["source"])


def formats_for(provider: str) -> dict[str, str]:
    """Dataset format -> method for a provider, from providers.toml."""
    from tuneline.analysis.targets import METHODS, shipped_providers

    rules = shipped_providers()[provider]
    out: dict[str, str] = {}
    for method in METHODS:
        for fmt in rules.formats_for(method):
            out.setdefault(fmt, method)
    return out


def provider_limit(provider: str, key: str) -> Any:
    """A value from providers.toml (file_size_limit, min_examples, ...), or None where it records none."""
    from tuneline.analysis.targets import shipped_providers

    rules = shipped_providers().get(provider)
    item = getattr(rules, key, None) if rules is not None else None
    return getattr(item, "value", None)
