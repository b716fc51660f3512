"""Model limits, prices and lifecycle, read from `models.toml` (shipped) plus the user's overrides."""

from __future__ import annotations

import datetime as dt
import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import shipped_toml
from .settings_error import ConfigError

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
class TokenizerFact:
    """The Hugging Face repo whose tokenizer and chat template a provider counts an open model's tokens with (its
    fine-tuning name often differs: Together's `-Reference` models), and the page that says so. A hub id only, never
    a folder: a model row can come from a repository's own settings, and a hub id loads from the user's own cache."""

    repo: str
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
    # False: the row's source gives no per-example limit (Together's vision models), so `limit` is a placeholder and
    # the provider's own default applies (targets.token_limit)
    limit_recorded: bool = True
    vision: tuple[VisionFact, ...] = ()  # per provider; a provider not listed: not recorded, so not judged
    tokenizer: TokenizerFact | None = None  # an open model's Hugging Face tokenizer; None: not recorded

    def vision_at(self, provider: str) -> VisionFact | None:
        return next((v for v in self.vision if v.provider == provider), None)

    def is_shut_down(self, today: dt.date | None = None) -> bool:
        return self.shutdown is not None and (today or dt.date.today()) >= self.shutdown


class ModelTableError(ConfigError):
    """A model row in the user's settings or models file that cannot be used. One sentence naming where it came
    from and the key (`models."NAME".limit`), so a typo in a price never becomes a traceback or a silent default."""


MODEL_KEYS = (
    "provider",
    "encoding",
    "limit",
    "price",
    "shutdown",
    "source",
    "as_of",
    "aliases",
    "vision",
    "tokenizer",
)
_VISION_KEYS = ("value", "source", "as_of", "verified", "note")
# A Hugging Face repo id (owner/name), as the hub spells them: no path, no `..`, no leading dot.
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*")
_FILE_KEYS = ("models", "image_tokens")  # the shipped file's tables; image_tokens is read by image_tokens.py


class _Bad(Exception):
    """One value's problem; `_entry` adds the model's key (and `sub`, a key inside the value, such as vision's
    provider)."""

    def __init__(self, problem: str, sub: str = "") -> None:
        super().__init__(problem)
        self.sub = sub


def _key(name: str) -> str:
    """A model's table as TOML spells it: `models."gpt-4o-mini"`."""
    return f"models.{json.dumps(name, ensure_ascii=False)}"


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise _Bad(f"must be {what}, not {_show(value)}")
    return value


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:56] + "...'"


def _limit(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _Bad(f"must be a whole number of tokens above 0, such as 65536, not {_show(value)}")
    return value


def _price(value: Any) -> float | None:
    """USD per 1M training tokens; TOML's `nan` means: no price known."""
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value < 0:
        raise _Bad(f"must be a number of US dollars per 1M training tokens, such as 3.0, not {_show(value)}")
    return None if isinstance(value, float) and math.isnan(value) else float(value)


def _parse_date(value: Any) -> dt.date | None:
    """A shutdown date: a TOML date or a "YYYY-MM-DD" string; an empty string means none."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        raise _Bad("must be a date without a time, such as 2027-01-14")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        pass
    raise _Bad(f"must be a date (YYYY-MM-DD), such as 2027-01-14, not {_show(value)}")


def _as_of(value: Any) -> str:
    if isinstance(value, dt.date) and not isinstance(value, dt.datetime):
        return value.isoformat()
    return _text(value, "the date the facts were read (YYYY-MM-DD)")


def _aliases(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Bad(f'must be a list of model names, such as ["gpt-4o-mini"], not {_show(value)}')
    return tuple(value)


def _vision_fact(provider: str, fact: Any) -> VisionFact:
    """`vision.PROVIDER = true` (a user's override) or a table with value, source, as_of, verified and note."""
    if isinstance(fact, bool):
        return VisionFact(provider, fact, "user settings")
    if not isinstance(fact, dict) or not isinstance(fact.get("value"), bool):
        raise _Bad(
            "must be true or false, or a table with a true/false value (and source, as_of, verified, note), "
            f"not {_show(fact)}",
            provider,
        )
    extra = [k for k in fact if k not in _VISION_KEYS]
    if extra:
        raise _Bad(f"is not a vision key; use {', '.join(_VISION_KEYS)}", f"{provider}.{extra[0]}")
    verified = fact.get("verified", True)
    if not isinstance(verified, bool):
        raise _Bad(f"must be true or false, not {_show(verified)}", f"{provider}.verified")

    def read(key: str, parse: Any) -> Any:
        try:
            return parse(fact.get(key, ""))
        except _Bad as exc:
            raise _Bad(str(exc), f"{provider}.{key}") from None

    return VisionFact(
        provider,
        fact["value"],
        read("source", lambda v: _text(v, "text")),
        read("as_of", _as_of),
        verified,
        read("note", lambda v: _text(v, "text")),
    )


def _vision(raw: Any, base: tuple[VisionFact, ...]) -> tuple[VisionFact, ...]:
    """`vision.PROVIDER` facts merged over the base row's, per provider."""
    if not isinstance(raw, dict):
        raise _Bad(f"must be a table of providers, such as {{ openai = true }}, not {_show(raw)}")
    facts = {v.provider: v for v in base}
    for provider, fact in raw.items():
        facts[provider] = _vision_fact(provider, fact)
    return tuple(facts.values())


def is_hub_id(value: str) -> bool:
    """`owner/name` as the Hugging Face hub spells a repo: what a model row's `tokenizer` may name."""
    return bool(_HUB_ID.fullmatch(value)) and ".." not in value


def _hub_id(value: Any) -> str:
    if not isinstance(value, str) or not is_hub_id(value.strip()):
        raise _Bad(
            'must be a Hugging Face repo id, such as "Qwen/Qwen2.5-7B-Instruct" (a folder goes in the `tokenizer` '
            f"setting), not {_show(value)}"
        )
    return value.strip()


def _tokenizer(raw: Any) -> TokenizerFact:
    """`tokenizer = "OWNER/NAME"` (a user's row) or a table with value, source, as_of, verified and note."""
    if isinstance(raw, str):
        return TokenizerFact(_hub_id(raw), "user settings")
    if not isinstance(raw, dict) or "value" not in raw:
        raise _Bad(
            'must be a Hugging Face repo id, such as "Qwen/Qwen2.5-7B-Instruct", or a table with a value (and '
            f"source, as_of, verified, note), not {_show(raw)}"
        )
    extra = [k for k in raw if k not in _VISION_KEYS]
    if extra:
        raise _Bad(f"is not a tokenizer key; use {', '.join(_VISION_KEYS)}", extra[0])

    def read(key: str, parse: Any, default: Any = "") -> Any:
        try:
            return parse(raw.get(key, default))
        except _Bad as exc:
            raise _Bad(str(exc), key) from None

    verified = raw.get("verified", True)
    if not isinstance(verified, bool):
        raise _Bad(f"must be true or false, not {_show(verified)}", "verified")
    return TokenizerFact(
        read("value", _hub_id),
        read("source", lambda v: _text(v, "text")),
        read("as_of", _as_of),
        verified,
        read("note", lambda v: _text(v, "text")),
    )


def _field(name: str, raw: dict[str, Any], key: str, parse: Any, default: Any) -> Any:
    if key not in raw:
        return default
    try:
        return parse(raw[key])
    except _Bad as exc:
        where = f"{key}.{exc.sub}" if exc.sub else key
        raise ModelTableError(f"`{_key(name)}.{where}` {exc}") from None


def _entry(
    name: str, raw: Any, base: ModelInfo | None = None, shown: str | None = None, *, shipped: bool = False
) -> ModelInfo:
    """One model row over its base row (the shipped one it overrides), every value checked: a wrong value is a
    ModelTableError naming the key as the user wrote it (`shown`: an alias, say), never a crash or a silently
    different number."""
    shown = shown or name
    if not isinstance(raw, dict):
        raise ModelTableError(
            f"`{_key(shown)}` must be a table of model facts ({', '.join(MODEL_KEYS)}), not {_show(raw)}"
        )
    extra = [k for k in raw if k not in MODEL_KEYS]
    if extra:
        hint = difflib.get_close_matches(extra[0], MODEL_KEYS, n=1)
        did = f" (did you mean {hint[0]}?)" if hint else ""
        raise ModelTableError(f"`{_key(shown)}.{extra[0]}` is not a model key{did}; use {', '.join(MODEL_KEYS)}")
    b = base or ModelInfo(name)
    word = "a name, such as "
    return ModelInfo(
        name=name,
        provider=_field(shown, raw, "provider", lambda v: _text(v, word + '"openai"').strip() or _empty(), b.provider),
        encoding=_field(
            shown, raw, "encoding", lambda v: _text(v, word + '"o200k_base"').strip() or _empty(), b.encoding
        ),
        limit=_field(shown, raw, "limit", _limit, b.limit),
        price=_field(shown, raw, "price", _price, b.price),
        shutdown=_field(shown, raw, "shutdown", _parse_date, b.shutdown),
        source=_field(shown, raw, "source", lambda v: _text(v, "text"), b.source or "user settings"),
        as_of=_field(shown, raw, "as_of", _as_of, b.as_of),
        aliases=_field(shown, raw, "aliases", _aliases, b.aliases),
        vision=_field(shown, raw, "vision", lambda v: _vision(v, b.vision), b.vision),
        tokenizer=_field(shown, raw, "tokenizer", _tokenizer, b.tokenizer),
        # a shipped row without `limit` has none recorded; a user's new row keeps the old default as its limit
        limit_recorded="limit" in raw or (b.limit_recorded if base is not None else not shipped),
    )


def _empty() -> str:
    raise _Bad("must not be empty")


def validate_overrides(raw: Any) -> None:
    """Check the `models` setting (a table of model rows) without building a table, so settings that cannot be used
    are refused where they are read, naming their file. Raises ModelTableError."""
    ModelTable(raw)


def _read_models_file(path: Path) -> dict[str, Any]:
    """A user's models file: TOML with `[models."NAME"]` tables, like the shipped models.toml."""
    toml = shipped_toml.tomllib()
    try:
        with Path(path).open("rb") as fh:
            data = toml.load(fh)
    except OSError as exc:
        raise ModelTableError(f"{path}: cannot read the models file ({exc.strerror or exc})") from None
    except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ModelTableError(f"{path}: the models file is not valid TOML ({exc})") from None
    extra = [k for k in data if k not in _FILE_KEYS]
    if extra:
        raise ModelTableError(f'{path}: `{extra[0]}` is not a table a models file holds; write [models."NAME"] tables')
    models = data.get("models")
    if not isinstance(models, dict):
        raise ModelTableError(f'{path}: the models file has no [models."NAME"] tables')
    return models


class ModelTable:
    """The shipped table with overrides applied; looks models up by name or alias."""

    def __init__(self, overrides: dict[str, dict[str, Any]] | None = None, files: list[Path] | None = None):
        raw = shipped_toml.load(_SHIPPED).get("models", {})
        self.models: dict[str, ModelInfo] = {n: _entry(n, v, shipped=True) for n, v in raw.items()}
        for path in files or []:
            try:
                self._merge(_read_models_file(Path(path)))
            except ModelTableError as exc:
                message = str(exc)
                raise ModelTableError(message if message.startswith(f"{path}:") else f"{path}: {message}") from None
        if overrides is not None and not isinstance(overrides, dict):
            raise ModelTableError(f"`models` must be a table of model tables, not {_show(overrides)}")
        self._merge(overrides or {})

    def _merge(self, raw: dict[str, dict[str, Any]]) -> None:
        for name, values in raw.items():
            base = self.resolve(name)
            key = base.name if base.known else name
            self.models[key] = _entry(key, values, base if base.known else None, shown=name)

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
