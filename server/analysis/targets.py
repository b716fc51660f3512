"""Targets: where a file will train (provider + model + method) and what that provider accepts.

A verdict only means something for the platform the file is going to: Together takes text files that OpenAI
refuses, OpenAI wants ten examples where Together wants one, Together's checker fails on a byte order mark that
Azure's docs ask for. So every rule that depends on the platform reads it from here.

The facts themselves live in `providers.toml` beside `models.toml`, each with the page it was read from, the date
and whether it could be confirmed. This module only parses and checks that file, so correcting a provider is a
data change reviewed against its source, never a code change. Pure: stdlib and tomllib only.
"""

from __future__ import annotations

import datetime as dt
import difflib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, Generic, TypeVar

from . import shipped_toml
from .formats import FORMAT_TITLES, RFT_FORMAT
from .models import ModelInfo, ModelTable, TokenizerFact, is_hub_id

SHIPPED = Path(__file__).with_name("providers.toml")
SCHEMA = 1

# tuneline's vocabulary, not provider facts: the words the data file may use.
METHODS = ("sft", "dpo", "rft")
ROLES = ("system", "user", "assistant", "tool", "developer", "function")
PREFERENCE_FORMATS = frozenset({"openai-preference", "trl-preference", "sharegpt-preference"})
FORMATS = frozenset(FORMAT_TITLES) - {"unknown"}
BOM_POLICIES = ("reject", "warn", "accept")
SYSTEM_POSITIONS = ("any", "first", "none")
TOKENIZER_KINDS = ("tiktoken", "hf-family", "model")
EPOCH_HEURISTICS = ("openai-auto", "none")
IMAGE_FORMATS = ("jpeg", "png", "webp", "gif")

T = TypeVar("T")


class TargetError(ValueError):
    """A target the user wrote that names no known provider, no model, or a method the provider lacks.

    The message is one sentence, fit for a CLI error line or an editor notification.
    """


class ProvidersFileError(ValueError):
    """`providers.toml`, or a file of the same shape, that cannot be used; the message names the file and key."""


@dataclass(frozen=True)
class Fact(Generic[T]):
    """One provider fact and where it comes from, so every verdict built on it can cite its source and age."""

    value: T | None  # None: the provider documents nothing here, so tuneline neither passes nor fails on it
    source: str
    as_of: dt.date
    verified: bool
    note: str = ""


@dataclass(frozen=True)
class TurnOrder:
    """Which roles may open a conversation and whether user and assistant turns must alternate."""

    starts_with: tuple[str, ...]  # empty: any role may come first
    alternate: bool


@dataclass(frozen=True)
class Images:
    """What image content parts a provider accepts. None in a field means the provider does not say."""

    accepted: bool | None
    url: bool | None = None  # https URLs
    data_url: bool | None = None  # base64 data URLs
    formats: tuple[str, ...] = ()
    max_per_example: int | None = None
    max_bytes: int | None = None
    roles: tuple[str, ...] = ()  # empty: no role rule documented


@dataclass(frozen=True)
class Epochs:
    """The epochs a job runs when the user sets none: a number, or "auto" resolved by a named heuristic."""

    default: int | None  # None: "auto"
    heuristic: str  # "openai-auto" (OpenAI's cookbook rule) or "none"


@dataclass(frozen=True)
class Tokenizer:
    """How tokens are counted: a tiktoken encoding, the model family's HF tokenizer, or the local model's own."""

    kind: str
    encoding: str | None = None  # tiktoken only; models.toml names each model's own


@dataclass(frozen=True)
class ProviderRules:
    """Everything tuneline knows about one provider, each fact with its source (see providers.toml)."""

    name: str
    title: str
    backend: str | None
    formats: Fact[dict[str, tuple[str, ...]]]
    # Per method, the only models the provider offers it for (OpenAI's DPO: the gpt-4.1 family); a method not named
    # here (or None) is offered for every model the provider fine-tunes
    method_models: Fact[dict[str, tuple[str, ...]]]
    roles: Fact[dict[str, tuple[str, ...]]]
    system_position: Fact[dict[str, str]]
    turn_order: Fact[TurnOrder]
    last_message: Fact[dict[str, str]]
    weight: Fact[bool]
    weight_roles: Fact[tuple[str, ...]]  # the roles whose messages may carry a `weight`
    image_weight: Fact[bool]  # whether a message holding images may carry a non-zero `weight`
    tools: Fact[bool]
    parallel_tool_calls: Fact[bool]
    # True: a key a line's format does not define is refused (Together's "Found extra column"); None: not documented
    strict_keys: Fact[bool]
    example_weight: Fact[bool]  # a number `weight` beside `messages` scales the whole example (Fireworks)
    # whether `prompt` / `completion` may be lists of messages (TRL's conversational form) or only text (Together)
    prompt_completion_messages: Fact[bool]
    images: Fact[Images]
    image_detail: Fact[tuple[str, ...]]  # the values an image part's `detail` may take
    mixed_content: Fact[bool]  # whether one conversation may mix string content and content-part lists
    parts_without_images: Fact[bool]  # whether a conversation written in content parts may hold no image
    min_examples: Fact[int]
    max_examples: Fact[int]
    example_token_limit: Fact[int]
    file_size_limit: Fact[int]
    bom: Fact[str]
    epochs: Fact[Epochs]
    new_jobs_end: Fact[dt.date]
    validation_file_required: Fact[dict[str, bool]]
    tokenizer: Fact[Tokenizer]
    bills_validation_tokens: Fact[bool]

    @property
    def methods(self) -> tuple[str, ...]:
        """The fine-tuning methods this provider offers, in tuneline's order."""
        offered = self.formats.value or {}
        return tuple(m for m in METHODS if m in offered)

    def formats_for(self, method: str) -> tuple[str, ...]:
        return (self.formats.value or {}).get(method, ())

    def accepts(self, method: str, fmt: str) -> bool:
        return fmt in self.formats_for(method)

    def roles_for(self, method: str) -> tuple[str, ...]:
        return (self.roles.value or {}).get(method, ())

    def models_for(self, method: str) -> tuple[str, ...] | None:
        """The only models `method` is offered for, or None when the provider offers it for every model."""
        return (self.method_models.value or {}).get(method)

    def facts(self) -> Iterator[tuple[str, Fact[Any]]]:
        """Every fact by its key, in the file's order; for documentation and completeness checks."""
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Fact):
                yield f.name, value


# ---------------------------------------------------------------------------------------------------------------
# Targets


@dataclass(frozen=True)
class Target:
    """Where a file will train. `method` None means: follow the file's format (see `method_for_format`)."""

    provider: str
    model: str
    method: str | None = None

    @classmethod
    def parse(
        cls, text: Any, method: str | None = None, providers: Mapping[str, ProviderRules] | None = None
    ) -> Target:
        """`PROVIDER:MODEL` as the user writes it (`--target`, settings). Only the first colon splits, so model
        names with colons (`openai:ft:gpt-4o-mini:org::id`) and Windows paths (`local:C:\\models\\x`) survive."""
        known = providers if providers is not None else shipped_providers()
        if not isinstance(text, str) or not text.strip():
            raise TargetError("The target is empty; write PROVIDER:MODEL, such as together:Qwen/Qwen2.5-7B-Instruct.")
        text = text.strip()
        head, colon, model = text.partition(":")
        provider = head.strip().lower()
        if provider not in known:
            raise TargetError(_unknown_provider(provider, text, known))
        if not colon or not model.strip():
            raise TargetError(f"The target {_show(text)} names no model; write {provider}:MODEL.")
        target = cls(provider, model.strip())
        return target.with_method(method, known) if method is not None else target

    @classmethod
    def from_model(
        cls,
        model: str,
        models: ModelTable | None = None,
        method: str | None = None,
        providers: Mapping[str, ProviderRules] | None = None,
    ) -> Target:
        """`--model M` as before targets existed: the provider is the model table's (OpenAI for unknown names,
        the table's default, so existing invocations keep their meaning)."""
        if not isinstance(model, str) or not model.strip():
            raise TargetError("The model name is empty.")
        info = (models or ModelTable()).resolve(model.strip())
        known = providers if providers is not None else shipped_providers()
        if info.provider not in known:
            raise TargetError(
                f"The model table gives {_show(model)} the provider {_show(info.provider)}, which tuneline "
                f"does not know; use --target instead."
            )
        target = cls(info.provider, model.strip())
        return target.with_method(method, known) if method is not None else target

    def with_method(self, method: str, providers: Mapping[str, ProviderRules] | None = None) -> Target:
        """This target with an explicit method, refused in one sentence if the provider does not offer it."""
        if method not in METHODS:
            raise TargetError(f"Unknown method {_show(method)}; use {_or(METHODS)}.")
        rules = rules_for(self, providers)
        if method not in rules.methods:
            raise TargetError(f"{rules.title} does not offer {method} fine-tuning; it offers {_or(rules.methods)}.")
        return replace(self, method=method)

    def resolved(self, fmt: str) -> Target:
        """The target with its method fixed: the user's, or the one the file's main format calls for."""
        return self if self.method is not None else replace(self, method=method_for_format(fmt))

    def as_json(self) -> dict[str, str | None]:
        """The `target` object of the JSON output contract."""
        return {"provider": self.provider, "model": self.model, "method": self.method}

    def __str__(self) -> str:
        return f"{self.provider}:{self.model}"


def method_for_format(fmt: str) -> str:
    """The method a file trains with when the user names none: preference pairs train with DPO, OpenAI
    reinforcement lines with RFT, everything else is supervised. KTO's unpaired labels are not pairs, so they
    stay SFT (no target here accepts them, and the format check says so)."""
    if fmt in PREFERENCE_FORMATS:
        return "dpo"
    if fmt == RFT_FORMAT:
        return "rft"
    return "sft"


def rules_for(target: Target, providers: Mapping[str, ProviderRules] | None = None) -> ProviderRules:
    """The provider rules a target is judged by."""
    known = providers if providers is not None else shipped_providers()
    try:
        return known[target.provider]
    except KeyError:
        raise TargetError(_unknown_provider(target.provider, str(target), known)) from None


def token_limit(target: Target, models: ModelTable, providers: Mapping[str, ProviderRules] | None = None) -> int | None:
    """Tokens per training example: the model table's limit when it knows the model (a model name identifies the
    model whoever hosts it, so azure:gpt-4.1-mini reads OpenAI's row) and records one, else the provider's default."""
    info = models.resolve(target.model)
    if info.known and info.limit_recorded:
        return info.limit
    return rules_for(target, providers).example_token_limit.value


def tokenizer_for(
    target: Target, models: ModelTable, providers: Mapping[str, ProviderRules] | None = None
) -> Tokenizer:
    """How to count a target's tokens: for tiktoken providers, the model's own encoding from the model table."""
    rules = rules_for(target, providers)
    tok = rules.tokenizer.value or Tokenizer("hf-family")
    if tok.kind == "tiktoken":
        # The table knows the model's encoding, or guesses it from the name the way tiktoken does.
        info: ModelInfo = models.resolve(target.model)
        return Tokenizer("tiktoken", info.encoding)
    return tok


@dataclass(frozen=True)
class TokenizerChoice:
    """The Hugging Face tokenizer an open model's tokens are counted with, and why that one."""

    name: str  # a folder of tokenizer files, or a Hugging Face repo id looked up in the user's cache
    origin: str  # "setting": the user's `tokenizer`; "table": models.toml's; "name": the model's own name
    fact: TokenizerFact | None = None  # the model table's row, with its source ("table" only)

    def fetch_hint(self, target: Target, other: str = "pass --tokenizer FOLDER") -> str:
        """One sentence for a tokenizer that is not on this machine: which one the target counts with and how to
        get it once (the tokenizer files only: no weights), so the next check is exact. `other`: the front end's
        way to name a tokenizer instead."""
        fetch = f"`{fetch_command(self.name)}`"
        if self.origin == "name":
            said = (
                f"token counts are o200k_base estimates (≈): {target} would count with its own Hugging Face "
                f"tokenizer, which is not in the cache; if {self.name} is its repo, fetch it once with {fetch}, "
                f"or {other}."
            )
        else:
            said = (
                f"token counts are o200k_base estimates (≈): {target} counts with the tokenizer of {self.name}, "
                f"which is not in the Hugging Face cache; fetch it once with {fetch}, or {other}."
            )
        return f"{said} {gated_note(self.name)}" if is_gated(self.name) else said


# Owners whose repos the Hugging Face hub gates behind a licence: `hf download` fails until the user has logged in
# and accepted it on the model's page, and the fetch command alone would read as broken.
GATED_PREFIXES = ("meta-llama/", "google/gemma", "mistralai/")


def fetch_command(repo: str) -> str:
    """The command that fetches a repo's tokenizer files only (no weights), once, into the Hugging Face cache."""
    return f"hf download {repo} --include 'tokenizer*' --include '*.json' --include '*.jinja'"


def is_gated(repo: str) -> bool:
    """Whether `repo` is plausibly gated on the hub (Meta's Llama, Google's Gemma, Mistral's models)."""
    return repo.lower().startswith(GATED_PREFIXES)


def gated_note(repo: str) -> str:
    """The sentence a fetch hint for a gated repo ends with."""
    return f"{repo} is gated: run `hf auth login` and accept its licence on the model page first."


def family_tokenizer(target: Target, models: ModelTable, setting: str | None = None) -> TokenizerChoice | None:
    """What to load to count a target's tokens with its model family's tokenizer: the `tokenizer` setting, else the
    model table's repo, else the model's name when it is a repo id (an OpenAI-compatible endpoint usually serves a
    model under its hub name). None for targets that count otherwise (tiktoken; a local folder's own tokenizer)."""
    if tokenizer_for(target, models).kind != "hf-family":
        return None
    if setting:
        return TokenizerChoice(setting, "setting")
    info = models.resolve(target.model)
    if info.known and info.tokenizer is not None:
        return TokenizerChoice(info.tokenizer.repo, "table", info.tokenizer)
    if not info.known and is_hub_id(target.model):
        return TokenizerChoice(target.model, "name")
    return None


def _show(value: Any, limit: int = 80) -> str:
    """A user's text quoted for a one-line message: control characters escaped, long text cut."""
    text = repr(value if isinstance(value, str) else str(value))
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _or(words: tuple[str, ...] | list[str]) -> str:
    words = list(words)
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


def _unknown_provider(provider: str, text: str, known: Mapping[str, ProviderRules]) -> str:
    if not provider:
        return (
            f"The target {_show(text)} names no provider; write PROVIDER:MODEL, where PROVIDER is {_or(list(known))}."
        )
    close = difflib.get_close_matches(provider, list(known), n=1)
    if close:
        return f"Unknown provider {_show(provider)}; did you mean {close[0]}?"
    return f"Unknown provider {_show(provider)}; use {_or(list(known))}."


# ---------------------------------------------------------------------------------------------------------------
# Loading providers.toml


class _Bad(Exception):
    """A problem with one value; `_Loader` adds the file and the key."""


def _strings(value: Any, allowed: tuple[str, ...] | frozenset[str], what: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _Bad(f"must be a list of {what}")
    unknown = [v for v in value if v not in allowed]
    if unknown:
        raise _Bad(f"has unknown {what} {unknown[0]!r}; use {_or(sorted(allowed))}")
    return tuple(value)


def _detail_values(value: Any) -> tuple[str, ...]:
    """Image `detail` values: any names (a provider may add one, as OpenAI added "original"), at least one."""
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise _Bad("must be a non-empty list of detail names")
    return tuple(value)


def _table(value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise _Bad("must be a table")
    return value


def _per_method(parse_one: Callable[[Any], Any]) -> Callable[[Any], dict[str, Any]]:
    def parse(value: Any) -> dict[str, Any]:
        out = {}
        for method, item in _table(value).items():
            if method not in METHODS:
                raise _Bad(f"has unknown method {method!r}; use {_or(METHODS)}")
            try:
                out[method] = parse_one(item)
            except _Bad as exc:
                raise _Bad(f"{method} {exc}") from None
        return out

    return parse


def _model_names(value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v.strip() for v in value):
        raise _Bad("must be a non-empty list of model names")
    return tuple(v.strip() for v in value)


def names_model(listed: str, model: str) -> bool:
    """Whether `model` (as a user writes it) is the listed model: the same name, a fine-tuned model of it
    (`ft:gpt-4.1-mini-2025-04-14:org::id`), or the undated alias of a dated snapshot (`o4-mini` for
    `o4-mini-2025-04-16`, as the providers name their models; not `gpt-4.1` for `gpt-4.1-mini-2025-04-14`)."""
    if model.startswith("ft:"):
        model = model.split(":")[1]
    model = model.split(".ft-")[0]  # Azure's fine-tuned models: gpt-4o-2024-08-06.ft-<id>
    if model == listed:
        return True
    rest = listed[len(model) + 1 :] if listed.startswith(model + "-") else ""
    return len(rest) == 10 and rest[4] == rest[7] == "-" and rest.replace("-", "").isdigit()


def _int(value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise _Bad(f"must be a whole number, not {value!r}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _Bad(f"must be true or false, not {value!r}")
    return value


def _choice(allowed: tuple[str, ...]) -> Callable[[Any], str]:
    def parse(value: Any) -> str:
        if value not in allowed:
            raise _Bad(f"must be {_or(allowed)}, not {value!r}")
        return value

    return parse


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        raise _Bad("must be a date without a time")
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value))
    except ValueError:
        raise _Bad(f"must be a date (YYYY-MM-DD), not {value!r}") from None


def _keys(table: dict[str, Any], allowed: tuple[str, ...]) -> None:
    extra = [k for k in table if k not in allowed]
    if extra:
        raise _Bad(f"has unknown key {extra[0]!r}; use {_or(allowed)}")


def _turn_order(value: Any) -> TurnOrder:
    t = _table(value)
    _keys(t, ("starts_with", "alternate"))
    return TurnOrder(_strings(t.get("starts_with", []), ROLES, "roles"), _bool(t.get("alternate", False)))


def _opt(parse: Callable[[Any], T], value: Any) -> T | None:
    return None if value is None else parse(value)


def _images(value: Any) -> Images:
    t = _table(value)
    _keys(t, tuple(f.name for f in fields(Images)))
    return Images(
        accepted=_opt(_bool, t.get("accepted")),
        url=_opt(_bool, t.get("url")),
        data_url=_opt(_bool, t.get("data_url")),
        formats=_strings(t.get("formats", []), IMAGE_FORMATS, "image formats"),
        max_per_example=_opt(_int, t.get("max_per_example")),
        max_bytes=_opt(_int, t.get("max_bytes")),
        roles=_strings(t.get("roles", []), ROLES, "roles"),
    )


def _epochs(value: Any) -> Epochs:
    t = _table(value)
    _keys(t, ("default", "heuristic"))
    default = t.get("default")
    if default != "auto":
        default = _int(default)
        if default < 1:
            raise _Bad("default must be at least 1 or 'auto'")
    return Epochs(None if default == "auto" else default, _choice(EPOCH_HEURISTICS)(t.get("heuristic", "none")))


def _tokenizer(value: Any) -> Tokenizer:
    t = _table(value)
    _keys(t, ("kind", "encoding"))
    kind = _choice(TOKENIZER_KINDS)(t.get("kind"))
    encoding = t.get("encoding")
    if kind == "tiktoken" and not isinstance(encoding, str):
        raise _Bad("a tiktoken tokenizer needs its encoding, such as o200k_base")
    if kind != "tiktoken" and encoding is not None:
        raise _Bad("only a tiktoken tokenizer has an encoding")
    return Tokenizer(kind, encoding)


# key -> (parser, value may be left out). The order is the file's and the documentation's.
_FACTS: dict[str, tuple[Callable[[Any], Any], bool]] = {
    "formats": (_per_method(lambda v: _strings(v, FORMATS, "formats")), False),
    "method_models": (_per_method(_model_names), True),
    "roles": (_per_method(lambda v: _strings(v, ROLES, "roles")), False),
    "system_position": (_per_method(_choice(SYSTEM_POSITIONS)), False),
    "turn_order": (_turn_order, False),
    "last_message": (_per_method(_choice(ROLES)), False),
    "weight": (_bool, True),
    "weight_roles": (lambda v: _strings(v, ROLES, "roles"), True),
    "image_weight": (_bool, True),
    "tools": (_bool, True),
    "parallel_tool_calls": (_bool, True),
    "strict_keys": (_bool, True),
    "example_weight": (_bool, True),
    "prompt_completion_messages": (_bool, True),
    "images": (_images, False),
    "image_detail": (_detail_values, True),
    "mixed_content": (_bool, True),
    "parts_without_images": (_bool, True),
    "min_examples": (_int, True),
    "max_examples": (_int, True),
    "example_token_limit": (_int, True),
    "file_size_limit": (_int, True),
    "bom": (_choice(BOM_POLICIES), False),
    "epochs": (_epochs, False),
    "new_jobs_end": (_date, True),
    "validation_file_required": (_per_method(_bool), False),
    "tokenizer": (_tokenizer, False),
    "bills_validation_tokens": (_bool, True),
}
REQUIRED_FACTS = tuple(_FACTS)
_FACT_KEYS = ("value", "source", "as_of", "verified", "note")


class _Loader:
    """Turns the parsed TOML into `ProviderRules`, naming file and key in the first error it meets."""

    def __init__(self, where: str):
        self.where = where

    def fail(self, key: str, problem: str) -> ProvidersFileError:
        return ProvidersFileError(f"{self.where}: {key} {problem}.")

    def load(self, raw: dict[str, Any]) -> dict[str, ProviderRules]:
        if raw.get("schema") != SCHEMA:
            raise self.fail("schema", f"must be {SCHEMA}, not {raw.get('schema')!r}")
        extra = [k for k in raw if k not in ("schema", "providers")]
        if extra:
            raise self.fail(extra[0], "is not a known top-level key; use schema or providers")
        providers = raw.get("providers")
        if not isinstance(providers, dict) or not providers:
            raise self.fail("providers", "must be a table with one table per provider")
        return {name: self.provider(name, table) for name, table in providers.items()}

    def provider(self, name: str, table: Any) -> ProviderRules:
        key = f"providers.{name}"
        if not isinstance(table, dict):
            raise self.fail(key, "must be a table")
        allowed = ("title", "backend", *_FACTS)
        for k in table:
            if k not in allowed:
                raise self.fail(f"{key}.{k}", "is not a known provider key")
        title, backend = table.get("title"), table.get("backend")
        if not isinstance(title, str) or not title.strip():
            raise self.fail(f"{key}.title", "must be the provider's display name")
        if backend is not None and not isinstance(backend, str):
            raise self.fail(f"{key}.backend", "must be the name of a training backend")
        facts = {
            fact: self.fact(f"{key}.{fact}", table.get(fact), parse, nullable)
            for fact, (parse, nullable) in _FACTS.items()
        }
        self.consistent(key, facts)
        return ProviderRules(name=name, title=title.strip(), backend=backend, **facts)

    def fact(self, key: str, table: Any, parse: Callable[[Any], Any], nullable: bool) -> Fact[Any]:
        if table is None:
            raise self.fail(key, "is missing (every provider states every fact, with its source)")
        if not isinstance(table, dict):
            raise self.fail(key, "must be a table with value, source, as_of and verified")
        for k in table:
            if k not in _FACT_KEYS:
                raise self.fail(f"{key}.{k}", f"is not a fact key; use {_or(_FACT_KEYS)}")
        source, note, verified = table.get("source"), table.get("note", ""), table.get("verified")
        if not isinstance(source, str) or not source.startswith("https://"):
            raise self.fail(f"{key}.source", "must be the https:// address the value was read from")
        if not isinstance(verified, bool):
            raise self.fail(f"{key}.verified", "must be true or false")
        if not isinstance(note, str):
            raise self.fail(f"{key}.note", "must be text")
        if not verified and not note.strip():
            raise self.fail(f"{key}.note", "must say why the fact is unverified")
        try:
            as_of = _date(table.get("as_of"))
        except _Bad as exc:
            raise self.fail(f"{key}.as_of", str(exc)) from None
        if "value" not in table:
            if not nullable:
                raise self.fail(f"{key}.value", "is missing")
            return Fact(None, source, as_of, verified, note.strip())
        try:
            value = parse(table["value"])
        except _Bad as exc:
            raise self.fail(f"{key}.value", str(exc)) from None
        return Fact(value, source, as_of, verified, note.strip())

    def consistent(self, key: str, facts: dict[str, Fact[Any]]) -> None:
        """Per-method facts cover exactly the methods the provider offers, so callers never miss a lookup."""
        methods = set(facts["formats"].value or {})
        if not methods:
            raise self.fail(f"{key}.formats.value", "must name at least one method")
        for fact in ("roles", "system_position"):
            have = set(facts[fact].value or {})
            if have != methods:
                raise self.fail(f"{key}.{fact}.value", f"must give {_or(sorted(methods))}, like formats")
        for fact in ("method_models", "last_message", "validation_file_required"):
            extra = set(facts[fact].value or {}) - methods
            if extra:
                raise self.fail(f"{key}.{fact}.value", f"names {sorted(extra)[0]}, which formats does not offer")


def load_providers(path: Path | str | None = None) -> dict[str, ProviderRules]:
    """Provider rules from `path` (default: the shipped providers.toml). A bad file raises ProvidersFileError
    whose one sentence names the file and the key, so a user fixing an override knows where to look."""
    path = Path(path) if path is not None else SHIPPED
    try:
        # the shipped file through its JSON copy (`shipped_toml`), so tomllib loads only for a user's file
        if path == SHIPPED:
            raw = shipped_toml.load(path)
        else:
            raw = shipped_toml.tomllib().loads(path.read_bytes().decode("utf-8"))
    except OSError as exc:
        raise ProvidersFileError(f"{path}: cannot read it ({exc.strerror or exc}).") from None
    except UnicodeDecodeError:
        raise ProvidersFileError(f"{path}: is not UTF-8 text.") from None
    except ValueError as exc:  # tomllib's TOMLDecodeError
        raise ProvidersFileError(f"{path}: is not valid TOML ({exc}).") from None
    return _Loader(str(path)).load(raw)


@lru_cache(maxsize=1)
def _shipped() -> tuple[tuple[str, ProviderRules], ...]:
    return tuple(load_providers(SHIPPED).items())


def shipped_providers() -> dict[str, ProviderRules]:
    """The shipped rules, parsed once per process (callers get their own dict)."""
    return dict(_shipped())


# ---------------------------------------------------------------------------------------------------------------
# docs/targets.md

FACT_LABELS = {
    "formats": "Formats per method",
    "method_models": "Models per method",
    "roles": "Roles",
    "system_position": "System message",
    "turn_order": "Turn order",
    "last_message": "Last message",
    "weight": "Per-message `weight`",
    "weight_roles": "Roles that may carry `weight`",
    "image_weight": "Non-zero `weight` on a message with images",
    "tools": "`tools`",
    "parallel_tool_calls": "`parallel_tool_calls`",
    "strict_keys": "Keys a format does not define",
    "example_weight": "A `weight` for a whole example",
    "prompt_completion_messages": "Messages as `prompt` / `completion`",
    "images": "Images",
    "image_detail": "Image `detail` values",
    "mixed_content": "String and content-part messages in one conversation",
    "parts_without_images": "A conversation of content parts without an image",
    "min_examples": "Minimum examples",
    "max_examples": "Maximum examples",
    "example_token_limit": "Tokens per example (default)",
    "file_size_limit": "File size",
    "bom": "Byte order mark",
    "epochs": "Epochs when unset",
    "new_jobs_end": "New jobs end",
    "validation_file_required": "Validation file required",
    "tokenizer": "Tokenizer",
    "bills_validation_tokens": "Validation tokens billed",
}
_POSITION = {"any": "anywhere", "first": "first message only", "none": "not accepted"}
_TOKENIZER = {"hf-family": "the model family's Hugging Face tokenizer", "model": "the model folder's own tokenizer"}


def _size(n: int) -> str:
    for unit, scale in (("GB", 2**30), ("MB", 2**20)):
        if n >= scale and n % scale == 0:
            return f"{n // scale:,} {unit}"
    return f"{n:,} bytes"


def _per_method_text(value: dict[str, Any], show: Callable[[Any], str]) -> str:
    return "; ".join(f"{m}: {show(value[m])}" for m in METHODS if m in value) or "no rule"


def _images_text(v: Images) -> str:
    if v.accepted is None:
        return "not documented"
    if not v.accepted:
        return "no"
    parts = []
    if v.url is not None or v.data_url is not None:
        kinds = [k for k, ok in (("https URL", v.url), ("base64 data URL", v.data_url)) if ok]
        parts.append(" or ".join(kinds) + ("" if v.url else " only"))
    if v.formats:
        parts.append("/".join(f.upper() for f in v.formats))
    if v.max_per_example is not None:
        parts.append(f"at most {v.max_per_example} per example")
    if v.max_bytes is not None:
        parts.append(f"{_size(v.max_bytes)} each")
    if v.roles:
        parts.append(f"in {_or(list(v.roles))} messages")
    return "yes: " + ", ".join(parts) if parts else "yes"


def fact_text(name: str, value: Any, verified: bool = False) -> str:
    """A fact's value as the documentation and `tuneline targets` show it. A missing value is "none" when the
    source confirms there is no such rule or limit, "not documented" when the provider says nothing."""
    if name == "method_models":
        if value is None:
            return "every model, for every method" if verified else "not documented: every model is taken"
        return _per_method_text(value, lambda v: _or(list(v)) + " only") + "; other methods: every model"
    if value is None:
        return "none" if verified else "not documented"
    if name == "formats" or name == "roles":
        return _per_method_text(value, lambda v: ", ".join(v))
    if name == "system_position":
        return _per_method_text(value, lambda v: _POSITION[v])
    if name == "last_message":
        return _per_method_text(value, str)
    if name == "weight_roles":
        return ", ".join(value) if value else "none"
    if name == "image_detail":
        return ", ".join(value)
    if name == "validation_file_required":
        needed = [m for m in METHODS if value.get(m)]
        return f"yes, for {_or(needed)}" if needed else "no"
    if name == "turn_order":
        if not value.starts_with and not value.alternate:
            return "no rule"
        parts = [f"starts with {_or(list(value.starts_with))}"] if value.starts_with else []
        return ", ".join([*parts, "user and assistant alternate"] if value.alternate else parts)
    if name == "images":
        return _images_text(value)
    if name == "file_size_limit":
        return _size(value)
    if name == "prompt_completion_messages":
        return "yes: strings or lists of messages" if value else "no: text only (a string, or content parts)"
    if name == "example_weight":
        return "yes: a number beside `messages`, on every example or on none" if value else "no"
    if name == "strict_keys":
        return "refused" if value else "ignored"
    if name == "bom":
        return {"reject": "rejected", "warn": "warned about", "accept": "accepted"}[value]
    if name == "epochs":
        if value.default is not None:
            return str(value.default)
        return (
            "auto (OpenAI's rule: 3, or 100 to 25,000 example passes)" if value.heuristic == "openai-auto" else "auto"
        )
    if name == "tokenizer":
        return f"tiktoken {value.encoding}" if value.kind == "tiktoken" else _TOKENIZER[value.kind]
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


def _fact_text(p: ProviderRules, name: str) -> str:
    fact = getattr(p, name)
    return fact_text(name, fact.value, fact.verified)


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _link(url: str) -> str:
    host = url.split("/")[2]
    return f"[{host}]({url})"


def render_markdown(providers: Mapping[str, ProviderRules] | None = None, models: ModelTable | None = None) -> str:
    """docs/targets.md: an overview table, then every fact of every provider with its source, date and note,
    then the provider's models from models.toml. A test keeps the file equal to this output."""
    providers = providers if providers is not None else shipped_providers()
    models = models or ModelTable()
    out = [
        "# Targets",
        "",
        "Generated by `tuneline targets --markdown` from `server/analysis/providers.toml` (what each provider",
        "accepts) and `server/analysis/models.toml` (per-model limits, prices, shutdown dates, which models fine-tune",
        "on images, which Hugging Face tokenizer counts an open model, and the image-token formula). A target is",
        "`PROVIDER:MODEL` plus a method (`sft`, `dpo`, `rft`); without a method the file's format decides (preference",
        "pairs: `dpo`, OpenAI reinforcement lines: `rft`, anything else: `sft`).",
        "",
        "An open model's tokens are exact when its tokenizer is on this machine: the folder or repo the `tokenizer`",
        "setting (`--tokenizer`) names, else the repo in the model's row below (a model without a row: the repo its",
        "name spells, such as an `openai-compatible` endpoint's `meta-llama/Llama-3.3-70B-Instruct`) when it is in",
        "your Hugging Face cache. Fetch the tokenizer files once with `hf download REPO --include 'tokenizer*'",
        "--include '*.json' --include '*.jinja'`. Otherwise the counts are o200k_base estimates, shown with ≈ (JSON",
        "`tokens.exact: false`).",
        "",
        "Every fact links the page it was read from and the date. *Unverified* facts could not be confirmed in the",
        "provider's current docs; their note says why. *None* means the source confirms there is no such rule or",
        "limit; *not documented* means the provider says nothing, so tuneline neither passes nor fails on it.",
        "",
        "| provider | formats per method | min / max examples | tokens per example | file size | byte order mark | images | new jobs end |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, p in providers.items():
        row = [
            f"[`{name}`](#{name})",
            _fact_text(p, "formats"),
            f"{_fact_text(p, 'min_examples')} / {_fact_text(p, 'max_examples')}",
            _fact_text(p, "example_token_limit"),
            _fact_text(p, "file_size_limit"),
            _fact_text(p, "bom"),
            _fact_text(p, "images").split(":")[0],
            _fact_text(p, "new_jobs_end"),
        ]
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    for name, p in providers.items():
        out += [
            "",
            f"## {name}",
            "",
            f"**{p.title}**" + (f" (training backend `{p.backend}`)" if p.backend else ""),
            "",
        ]
        out += ["| fact | value | source | as of | note |", "| --- | --- | --- | --- | --- |"]
        for key, fact in p.facts():
            note = fact.note if fact.verified else f"*Unverified.* {fact.note}"
            row = [FACT_LABELS[key], _fact_text(p, key), _link(fact.source), fact.as_of.isoformat(), note]
            out.append("| " + " | ".join(_cell(c) for c in row) + " |")
        rows = [m for m in (models.models[n] for n in models.names()) if m.provider == name]
        if rows:
            out += ["", "| model | tokens per example | USD per 1M training tokens | shutdown | source | as of |"]
            out.append("| --- | --- | --- | --- | --- | --- |")
            for m in rows:
                price = "not recorded" if m.price is None else f"{m.price:.2f}"
                shutdown = m.shutdown.isoformat() if m.shutdown else ""
                limit = f"{m.limit:,}" if m.limit_recorded else "not recorded"
                row = [f"`{m.name}`", limit, price, shutdown, m.source, m.as_of]
                out.append("| " + " | ".join(_cell(c) for c in row) + " |")
        out += _vision_rows(name, models)
        out += _tokenizer_rows(name, models)
    out += _image_token_section()
    return "\n".join(out) + "\n"


def _and(words: list[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _vision_rows(provider: str, models: ModelTable) -> list[str]:
    """Which models fine-tune on images at this provider (models.toml `vision.PROVIDER`), each with its source."""
    facts = [(n, v) for n in models.names() if (v := models.models[n].vision_at(provider)) is not None]
    if not facts:
        return []
    out = ["", "| model | fine-tunes on images | source | as of | note |", "| --- | --- | --- | --- | --- |"]
    for n, v in facts:
        note = v.note if v.verified else f"*Unverified.* {v.note}"
        link = _link(v.source) if v.source.startswith("https://") else v.source
        row = [f"`{n}`", "yes" if v.accepted else "no", link, v.as_of, note]
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return out


def _tokenizer_rows(provider: str, models: ModelTable) -> list[str]:
    """Which Hugging Face tokenizer counts each of this provider's models (models.toml `tokenizer`), when it is in
    the user's cache or the `tokenizer` setting names it; without it the counts are o200k_base estimates."""
    rows = [m for m in (models.models[n] for n in models.names()) if m.provider == provider and m.tokenizer]
    if not rows:
        return []
    out = [
        "",
        "| model | counted with (Hugging Face tokenizer and chat template) | source | as of | note |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m in rows:
        t = m.tokenizer
        assert t is not None
        note = t.note if t.verified else f"*Unverified.* {t.note}"
        link = _link(t.source) if t.source.startswith("https://") else t.source
        row = [f"`{m.name}`", f"`{t.repo}`", link, t.as_of, note]
        out.append("| " + " | ".join(_cell(c) for c in row) + " |")
    return out


def _image_token_section() -> list[str]:
    """The image-token formula of models.toml `[image_tokens]`, with two sizes worked through it."""
    from .image_tokens import openai_rule  # the module that applies the formula: the docs use its arithmetic

    table = shipped_toml.load(Path(__file__).with_name("models.toml"))["image_tokens"]
    rule = openai_rule()
    targets = _and([f"`{p}`" for p in rule.providers])
    square, tall = rule.tokens(1024, 1024, "high"), rule.tokens(2048, 4096, "high")
    return [
        "",
        "## Image tokens",
        "",
        f"Images in {targets} targets are counted by OpenAI's published formula, read from `[image_tokens]` in "
        f"`server/analysis/models.toml` ({_link(rule.source)}, as of {table['as_of']}). Other providers' image tokens "
        "are not counted, so their token counts are a lower bound.",
        "",
        "| detail | tokens per image |",
        "| --- | --- |",
        f"| `low` | {rule.low}, whatever the size |",
        f"| `high` | {rule.base} + {rule.per_tile} per {rule.tile} x {rule.tile} tile, once the image is scaled down to "
        f"fit a {rule.max_side:,} x {rule.max_side:,} square and then so its short side is at most {rule.short_side} "
        f"pixels (1,024 x 1,024: {square:,}; 2,048 x 4,096: {tall:,}) |",
        f"| `auto` (the default) | counted as `{rule.auto}`: the model may pick `low` for a small image, so the count "
        "can be high |",
        f"| an `https` URL (no size offline) | {rule.least('high'):,} at `high` (one tile), marked a lower bound |",
        "",
        _cell(table.get("note", "")),
    ]
