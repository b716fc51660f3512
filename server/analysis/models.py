"""Model limits, prices and lifecycle, read from `models.toml` (shipped) plus the user's overrides."""

from __future__ import annotations

import datetime as dt
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MODEL = "gpt-4o-mini-2024-07-18"
_SHIPPED = Path(__file__).with_name("models.toml")


@dataclass(frozen=True, slots=True)
class VisionFact:
    """Whether a model fine-tunes on images at one provider (a model name is the same model on OpenAI and Azure,
    but each provider decides which models take images), and the page that says so."""

    provider: str
    accepted: bool
    source: str = ""
    as_of: str = ""
    verified: bool = True
    note: str = ""


@dataclass(frozen=True, slots=True)
class ModelInfo:
    name: str
    provider: str = "openai"
    encoding: str = "o200k_base"
    limit: int = 65536
    price: float | None = None  # USD per 1M training tokens; None when unknown
    shutdown: dt.date | None = None
    source: str = ""
    as_of: str = ""
    aliases: tuple[str, ...] = field(default=())
    known: bool = True  # False: a name not in the table, described with defaults
    vision: tuple[VisionFact, ...] = ()  # per provider; a provider not listed: not recorded, so not judged

    def vision_at(self, provider: str) -> VisionFact | None:
        return next((v for v in self.vision if v.provider == provider), None)

    def is_shut_down(self, today: dt.date | None = None) -> bool:
        return self.shutdown is not None and (today or dt.date.today()) >= self.shutdown


def _parse_date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _vision(raw: Any, base: tuple[VisionFact, ...]) -> tuple[VisionFact, ...]:
    """`vision.PROVIDER = {value, source, as_of, verified}` (or just true/false in a user's override), merged over
    the base row's per provider. An entry of the wrong shape is ignored."""
    facts = {v.provider: v for v in base}
    for provider, fact in raw.items() if isinstance(raw, dict) else ():
        if isinstance(fact, bool):
            facts[provider] = VisionFact(provider, fact, "user settings")
        elif isinstance(fact, dict) and isinstance(fact.get("value"), bool):
            facts[provider] = VisionFact(
                provider,
                fact["value"],
                str(fact.get("source", "")),
                str(fact.get("as_of", "")),
                fact.get("verified", True) is not False,
                str(fact.get("note", "")),
            )
    return tuple(facts.values())


def _entry(name: str, raw: dict[str, Any], base: ModelInfo | None = None) -> ModelInfo:
    b = base or ModelInfo(name)
    price = raw.get("price", b.price)
    return ModelInfo(
        name=name,
        provider=str(raw.get("provider", b.provider)),
        encoding=str(raw.get("encoding", b.encoding)),
        limit=int(raw.get("limit", b.limit)),
        price=None if price is None or (isinstance(price, float) and math.isnan(price)) else float(price),
        shutdown=_parse_date(raw["shutdown"]) if "shutdown" in raw else b.shutdown,
        source=str(raw.get("source", b.source or "user settings")),
        as_of=str(raw.get("as_of", b.as_of)),
        aliases=tuple(raw.get("aliases", b.aliases)),
        vision=_vision(raw.get("vision"), b.vision),
    )


class ModelTable:
    """The shipped table with overrides applied; looks models up by name or alias."""

    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None, files: list[Path] | None = None):
        with _SHIPPED.open("rb") as fh:
            raw = tomllib.load(fh).get("models", {})
        self.models: dict[str, ModelInfo] = {n: _entry(n, v) for n, v in raw.items()}
        for path in files or []:
            with Path(path).open("rb") as fh:
                self._merge(tomllib.load(fh).get("models", {}))
        self._merge(overrides or {})

    def _merge(self, raw: dict[str, dict[str, Any]]) -> None:
        for name, values in raw.items():
            base = self.resolve(name)
            key = base.name if base.known else name
            self.models[key] = _entry(key, values, base if base.known else None)

    def resolve(self, name: str) -> ModelInfo:
        if name in self.models:
            return self.models[name]
        for info in self.models.values():
            if name in info.aliases:
                return info
        # ft:gpt-4o-mini-2024-07-18:org::id continues training a base model
        if name.startswith("ft:"):
            parts = name.split(":")
            if len(parts) > 1 and parts[1] in self.models:
                return self.models[parts[1]]
        encoding = (
            "cl100k_base" if name.startswith(("gpt-3.5", "gpt-4-", "gpt-4:")) or name == "gpt-4" else "o200k_base"
        )
        return ModelInfo(name, encoding=encoding, known=False, source="unknown model: defaults")

    def names(self) -> list[str]:
        return sorted(self.models)


def auto_epochs(n_examples: int) -> int:
    """OpenAI's default epoch heuristic (cookbook): aim for 100..25,000 example visits."""
    epochs = 3
    if n_examples <= 0:
        return epochs
    if n_examples * epochs < 100:
        epochs = min(25, 100 // n_examples)
    elif n_examples * epochs > 25_000:
        epochs = max(1, 25_000 // n_examples)
    return epochs


@dataclass(frozen=True, slots=True)
class CostEstimate:
    model: str
    epochs: int
    billed_tokens: int  # over all epochs
    usd: float | None  # None when the model's price is unknown


def estimate_cost(model: ModelInfo, epochs: int, billed_tokens_per_epoch: int) -> CostEstimate:
    billed = epochs * billed_tokens_per_epoch
    usd = None if model.price is None else round(billed * model.price / 1_000_000, 4)
    return CostEstimate(model.name, epochs, billed, usd)
