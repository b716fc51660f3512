"""Settings with their defaults in one place, read from `[tool.tuneline]` / `tuneline.toml` and merged with
whatever the caller adds (CLI flags, editor settings). Keys may be snake_case or camelCase."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from . import shipped_toml
from .catalog import RULES, expand_selector
from .epochs import EpochsError, parse_epochs
from .models import DEFAULT_MODEL, ModelTableError, validate_overrides
from .settings_error import ConfigError
from .types import Severity

METHODS = ("sft", "dpo", "rft")  # targets.METHODS; repeated here so reading settings needs no provider file


@dataclass(frozen=True)
class Settings:
    model: str = DEFAULT_MODEL
    target: str | None = None  # PROVIDER:MODEL; None: the model table's provider for `model` (OpenAI by default)
    method: str | None = None  # sft | dpo | rft; None: follow the file's format
    epochs: int | None = None  # None: OpenAI's "auto" heuristic
    select: tuple[str, ...] = ("ALL",)
    ignore: tuple[str, ...] = ()
    severity: dict[str, Severity] = field(default_factory=dict)
    models: dict[str, dict[str, Any]] = field(default_factory=dict)  # model table overrides
    models_file: str | None = None
    inlay_hints: bool = True
    near_duplicates: str = "off"  # "off" | "lexical" | "semantic"
    near_duplicate_threshold: float | None = None  # None: the embedding model's calibrated default
    embedding_model: str | None = None
    validation_file: str | None = None
    secrets: bool = True
    # The tokenizer an open model's tokens are counted with: a folder of tokenizer files or a Hugging Face repo id in
    # the user's cache. None: the model table's (models.toml `tokenizer`). A path to load, so restricted (lsp/trust.py).
    tokenizer: str | None = None

    def enabled_codes(self) -> frozenset[str]:
        chosen: set[str] = set()
        for sel in self.select:
            chosen.update(expand_selector(sel))
        for sel in self.ignore:
            chosen.difference_update(expand_selector(sel))
        return frozenset(chosen)

    def severity_of(self, code: str, default: Severity | None = None) -> Severity:
        if code in self.severity:
            return self.severity[code]
        if default is not None:
            return default
        return RULES[code].severity if code in RULES else Severity.WARNING

    def merged(self, raw: dict[str, Any], origin: str = "settings") -> Settings:
        """A copy with `raw` (TOML table or editor JSON) applied on top; unknown keys raise ConfigError.

        A `model` given without a `target` replaces the target below it (the provider then comes from the model
        table), so `--model` and an editor's `model` keep meaning what they always meant. The target and method
        must go together (together offers no rft): the pair is checked here, naming `origin`."""
        values = _coerce(raw, origin)
        if "model" in values and "target" not in values:
            values["target"] = None
        merged = replace(self, **values)
        if ("target" in values or "method" in values) and (merged.target is not None or merged.method is not None):
            _check_target(merged, origin)
        return merged


def _check_target(settings: Settings, origin: str) -> None:
    """The target and method these settings name exist together (a `model` with a method: the model table's
    provider must offer it), so a bad pair is a ConfigError naming `origin`, not a failure when an engine is built."""
    from .models import ModelTable
    from .targets import Target, TargetError  # targets reads formats and models only: no cycle, but keep it lazy

    try:
        if settings.target is not None:
            Target.parse(settings.target, settings.method)
        elif settings.method is not None:
            try:
                models = ModelTable(settings.models)
            except Exception:  # a broken model override is reported where the engine reads it
                return
            Target.from_model(settings.model, models, settings.method)
    except TargetError as exc:
        raise ConfigError(f"{origin}: {exc}") from None


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")
_FIELDS = {f.name for f in fields(Settings)}


def _snake(key: str) -> str:
    return _CAMEL.sub("_", key).lower().replace("-", "_")


def _codes(value: Any, key: str, origin: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [v for v in re.split(r"[,\s]+", value) if v]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{origin}: `{key}` must be a list of rule codes, names or prefixes")
    for v in value:
        if not expand_selector(v):
            raise ConfigError(f"{origin}: `{key}` names no rule: {v!r}")
    return tuple(value)


def _coerce(raw: dict[str, Any], origin: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = _snake(key)
        if name not in _FIELDS:
            raise ConfigError(f"{origin}: unknown setting `{key}`")
        if value is None:
            continue
        if name == "epochs":
            try:
                out[name] = parse_epochs(value, f"{origin}: `epochs`")
            except EpochsError as exc:
                raise ConfigError(str(exc)) from None
            continue
        elif name in ("select", "ignore"):
            value = _codes(value, key, origin)
        elif name == "severity":
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: `severity` must map rule codes to error|warning|info|hint")
            parsed: dict[str, Severity] = {}
            for code, sev in value.items():
                targets = expand_selector(str(code))
                if not targets:
                    raise ConfigError(f"{origin}: `severity` names no rule: {code!r}")
                try:
                    level = Severity.parse(str(sev))
                except KeyError:
                    raise ConfigError(f"{origin}: severity {sev!r} for {code} is not error|warning|info|hint") from None
                parsed.update(dict.fromkeys(targets, level))
            value = parsed
        elif name == "model" and not isinstance(value, str):
            raise ConfigError(f"{origin}: `model` must be a string")
        elif name == "target":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"{origin}: `target` must be PROVIDER:MODEL, such as together:Qwen/Qwen2.5-7B-Instruct"
                )
            value = value.strip()
        elif name == "tokenizer":
            if not isinstance(value, str) or not value.strip():
                raise ConfigError(
                    f"{origin}: `tokenizer` must be a folder of tokenizer files or a Hugging Face repo id, such as "
                    "Qwen/Qwen2.5-7B-Instruct"
                )
            value = value.strip()
        elif name == "method":
            if not isinstance(value, str) or value.strip().lower() not in (*METHODS, "auto"):
                raise ConfigError(f"{origin}: `method` must be sft, dpo, rft or auto (follow the file's format)")
            value = value.strip().lower()
            if value == "auto":
                out[name] = None
                continue
        elif name == "near_duplicate_threshold":
            if not isinstance(value, (int, float)) or not (0.0 < float(value) <= 1.0):
                raise ConfigError(f"{origin}: `nearDuplicateThreshold` must be a number in (0, 1]")
            value = float(value)
        elif name == "near_duplicates":
            if value is True:
                value = "lexical"
            elif value is False:
                value = "off"
            if value not in ("off", "lexical", "semantic"):
                raise ConfigError(f"{origin}: `nearDuplicates` must be off, lexical or semantic")
        elif name in ("inlay_hints", "secrets") and not isinstance(value, bool):
            raise ConfigError(f"{origin}: `{key}` must be true or false")
        elif name == "models":
            if not isinstance(value, dict):
                raise ConfigError(f"{origin}: `models` must be a table of model tables")
            try:
                validate_overrides(value)  # refused here, naming the file, not later when an engine is built
            except ModelTableError as exc:
                raise ConfigError(f"{origin}: {exc}") from None
        out[name] = value
    return out


def find_project_config(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """The nearest `tuneline.toml`, or `pyproject.toml` with a `[tool.tuneline]` table, from `start` upward."""
    start = start.resolve()
    for folder in [start, *start.parents] if start.is_dir() else [start.parent, *start.parent.parents]:
        own = folder / "tuneline.toml"
        if own.is_file():
            return own, _load_toml(own)
        py = folder / "pyproject.toml"
        if py.is_file():
            table = _load_toml(py).get("tool", {}).get("tuneline")
            if table is not None:
                return py, table
    return None


def _load_toml(path: Path) -> dict[str, Any]:
    toml = shipped_toml.tomllib()
    try:
        with path.open("rb") as fh:
            return toml.load(fh)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read settings: {exc.strerror or exc}") from None
    except (toml.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


def _apply(settings: Settings, path: Path, table: dict[str, Any]) -> Settings:
    settings = settings.merged(table, str(path))
    for key in ("models_file", "validation_file"):  # paths in a config file are relative to that file
        value = getattr(settings, key)
        if value and not Path(value).is_absolute():
            settings = replace(settings, **{key: str(path.parent / value)})
    tokenizer = settings.tokenizer if "tokenizer" in table else None
    if tokenizer and names_relative_folder(tokenizer, path.parent):
        settings = replace(settings, tokenizer=str(path.parent / tokenizer))
    return settings


def names_relative_folder(value: str, base: Path) -> bool:
    """A `tokenizer` value that names a folder relative to `base` (`./tok`, `../tok`, or an existing `tok/`), not a
    Hugging Face repo id (`Qwen/Qwen2.5-7B-Instruct` looks like a relative path too)."""
    path = Path(value).expanduser()
    if path.is_absolute():
        return False
    return value.startswith(("./", "../", ".\\", "..\\")) or (base / path).is_dir()


def load_settings(start: Path, base: Settings | None = None) -> Settings:
    """Project settings for files under `start` (defaults when there is no config)."""
    settings = base or Settings()
    found = find_project_config(start)
    if found is None:
        return settings
    path, table = found
    return _apply(settings, path, table)


def load_config_file(path: Path, base: Settings | None = None) -> Settings:
    """Settings from a file the user named (`--config`), whatever its name.

    A pyproject-shaped file (named pyproject.toml, or with a `[tool]`, `[project]` or `[build-system]` table)
    must have `[tool.tuneline]`; any other file is read like tuneline.toml. A missing, unreadable or broken file
    is a ConfigError, never a silent fallback to defaults.
    """
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: no such config file")
    if not path.is_file():
        raise ConfigError(f"{path}: the config file is not a regular file")
    data = _load_toml(path)
    if path.name == "pyproject.toml" or any(key in data for key in ("tool", "project", "build-system")):
        tool = data.get("tool")
        table = tool.get("tuneline") if isinstance(tool, dict) else None
        if table is None:
            raise ConfigError(f"{path}: has no [tool.tuneline] table")
        if not isinstance(table, dict):
            raise ConfigError(f"{path}: `tool.tuneline` must be a table")
    else:
        table = data
    return _apply(base or Settings(), path, table)
