"""What an evaluation will cost, before any request: tokens in and out per model, and dollars where a price is known.

Prompt tokens are counted with OpenAI's chat rule (`tuneline.analysis.counting`) on the model's tiktoken encoding
(an approximation for open models). Answers are assumed about as long as the references, capped by `max_tokens`;
the "at most" figure assumes every answer runs to `max_tokens`. Prices come from `prices.toml` beside this module
(or `--price IN,OUT`), in USD per 1M tokens.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from tuneline.analysis.counting import count_message
from tuneline.analysis.models import ModelTable
from tuneline.analysis.tokens import TokenCounter

from .items import Item
from .judge import JUDGE_MAX_TOKENS, SYSTEM, TEMPLATE

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

_TABLE = Path(__file__).with_name("prices.toml")
REPLY_PRIMER = 3
JUDGE_REPLY_TOKENS = 12  # {"winner": "A"} and a little slack


@dataclass(frozen=True)
class Price:
    input: float  # USD per 1M prompt tokens
    output: float  # USD per 1M completion tokens
    source: str = ""

    def cost(self, tokens_in: int, tokens_out: int) -> float:
        return (tokens_in * self.input + tokens_out * self.output) / 1e6


@lru_cache(maxsize=1)
def _table() -> dict[str, dict[str, Any]]:
    with _TABLE.open("rb") as fh:
        return tomllib.load(fh).get("models", {})


def _entry(name: str) -> dict[str, Any] | None:
    table = _table()
    if name in table:
        return table[name]
    return next((v for v in table.values() if name in v.get("aliases", ())), None)


def price_for(model: str) -> Price | None:
    """The shipped price of `model`: a base model's own, or for `ft:BASE:…` the fine-tuned rate of BASE."""
    fine_tuned = model.startswith("ft:")
    entry = _entry(model.split(":")[1] if fine_tuned and model.count(":") >= 1 else model)
    if entry is None:
        return None
    prefix = "fine_tuned_" if fine_tuned else ""
    if f"{prefix}input" not in entry or f"{prefix}output" not in entry:
        return None
    source = f"{entry.get('source', 'tuneline')}, as of {entry.get('as_of', '?')}"
    if entry.get("verified") is False:
        source += " (not re-checked: pass --price to be sure)"
    return Price(float(entry[f"{prefix}input"]), float(entry[f"{prefix}output"]), source)


def parse_price(text: str) -> Price:
    """`IN,OUT` (USD per 1M tokens) as given on the command line; ValueError with a sentence otherwise."""
    parts = [p.strip().lstrip("$") for p in str(text).split(",")]
    try:
        values = [float(p) for p in parts]
    except ValueError:
        values = []
    if len(values) != 2 or any(v < 0 or v != v or v > 10_000 for v in values):
        raise ValueError(f"--price takes IN,OUT in USD per 1M tokens, such as 0.30,1.20, not {text!r}")
    return Price(values[0], values[1], "--price")


@lru_cache(maxsize=4)
def _counter(encoding: str) -> TokenCounter:
    return TokenCounter(encoding)


def counter_for(model: str) -> TokenCounter:
    return _counter(ModelTable().resolve(model).encoding)


def prompt_tokens(item: Item, counter: TokenCounter) -> int:
    n = REPLY_PRIMER + sum(count_message(m, counter) for m in item.prompt)
    if item.tools:
        n += counter.count(json.dumps(item.tools, ensure_ascii=False))
    return n


def reference_tokens(item: Item, counter: TokenCounter) -> int:
    n = counter.count(item.reference)
    if item.reference_tool_calls:
        n += counter.count(json.dumps(item.reference_tool_calls, ensure_ascii=False))
    return max(1, n)


@dataclass
class Line:
    """One model's share of the evaluation."""

    role: str  # tuned | base | judge
    model: str
    requests: int
    tokens_in: int
    tokens_out: int
    tokens_out_max: int
    price: Price | None

    @property
    def usd(self) -> float | None:
        return None if self.price is None else self.price.cost(self.tokens_in, self.tokens_out)

    @property
    def usd_max(self) -> float | None:
        return None if self.price is None else self.price.cost(self.tokens_in, self.tokens_out_max)

    def to_json(self) -> dict[str, Any]:
        return {
            "role": self.role,
            "model": self.model,
            "requests": self.requests,
            "tokensIn": self.tokens_in,
            "tokensOut": self.tokens_out,
            "tokensOutMax": self.tokens_out_max,
            "usd": None if self.usd is None else round(self.usd, 6),
            "usdMax": None if self.usd_max is None else round(self.usd_max, 6),
            "priceSource": self.price.source if self.price else None,
        }


@dataclass
class Estimate:
    lines: list[Line] = field(default_factory=list)

    @property
    def requests(self) -> int:
        return sum(line.requests for line in self.lines)

    @property
    def usd(self) -> float | None:
        if any(line.usd is None for line in self.lines if line.requests):
            return None
        return sum(line.usd or 0.0 for line in self.lines)

    @property
    def usd_max(self) -> float | None:
        if any(line.usd_max is None for line in self.lines if line.requests):
            return None
        return sum(line.usd_max or 0.0 for line in self.lines)

    def cost_text(self) -> str:
        """'$0.04 (at most $0.10)', or what is unknown."""
        if not self.requests:
            return "$0.00 (nothing left to send)"
        if self.usd is None:
            unknown = ", ".join(sorted({line.model for line in self.lines if line.requests and line.price is None}))
            return f"unknown (no price for {unknown}; pass --price IN,OUT)"
        return f"${self.usd:,.2f} (at most ${self.usd_max or 0:,.2f})"

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "usd": None if self.usd is None else round(self.usd, 6),
            "usdMax": None if self.usd_max is None else round(self.usd_max, 6),
            "lines": [line.to_json() for line in self.lines],
        }


def estimate(
    items: Sequence[Item],
    models: Sequence[tuple[str, str, Price | None]],
    max_tokens: int,
    judge: tuple[str, Price | None] | None = None,
    done: dict[str, set[int]] | None = None,
) -> Estimate:
    """The cost of answering `items` with each `(role, model, price)`, and of judging them, skipping what
    `done` (role → lines already answered, from an interrupted eval) says is already there."""
    done = done or {}
    out = Estimate()
    for role, model, price in models:
        counter = counter_for(model)
        todo = [i for i in items if i.line not in done.get(role, set())]
        out.lines.append(
            Line(
                role,
                model,
                len(todo),
                sum(prompt_tokens(i, counter) for i in todo),
                sum(min(max_tokens, reference_tokens(i, counter)) for i in todo),
                max_tokens * len(todo),
                price,
            )
        )
    if judge is not None:
        model, price = judge
        counter = counter_for(model)
        fixed = counter.count(SYSTEM) + counter.count(TEMPLATE) + 2 * 3 + REPLY_PRIMER
        todo = [i for i in items if i.line not in done.get("judge", set())]
        tokens_in = 0
        for i in todo:
            prompt = sum(count_message(m, counter) for m in i.prompt)
            tokens_in += fixed + prompt + 3 * min(max_tokens, reference_tokens(i, counter))
        requests = 2 * len(todo)  # both orders
        out.lines.append(
            Line(
                "judge",
                model,
                requests,
                2 * tokens_in,
                JUDGE_REPLY_TOKENS * requests,
                JUDGE_MAX_TOKENS * requests,
                price,
            )
        )
    return out
