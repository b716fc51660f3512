"""Which Settings and Engine apply to a document: project config, then the editor's settings on top.

Order, later wins: defaults < the project's `tuneline.toml` / `[tool.tuneline]` (found upward from the file) <
`initializationOptions.settings` < `workspace/configuration` (section `tuneline`). In an untrusted workspace the
settings that name a path or a model to load are dropped from every source (`trust.py`). Nothing here may stop the
server: a broken project config, an unknown or invalid editor setting, or a tiktoken encoding that cannot be
loaded each become one `window/showMessage` and a sensible fallback (defaults without the bad part).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from tuneline.analysis import ConfigError, Engine, Settings, load_settings
from tuneline.analysis.models import ModelTable
from tuneline.analysis.targets import ProvidersFileError, TargetError
from tuneline.analysis.tokens import EncodingUnavailable
from tuneline.token_counters import CounterUnavailable, load_counter

from .trust import is_restricted_setting, restrict

log = logging.getLogger("tuneline.lsp")

# Keys the editor client uses for itself (contracts.md): never an error, never merged.
CLIENT_ONLY = frozenset({"interpreter", "trace", "training"})
FALLBACK_ENCODING = "o200k_base"

Notify = Callable[[str, bool], None]  # (message, is_error)


def _client_keys(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        return {}
    return {k: v for k, v in raw.items() if k not in CLIENT_ONLY and not k.startswith(("training.", "trace."))}


class SettingsManager:
    """Resolves settings per document and keeps one Engine per distinct Settings.

    `client` is replaced, never mutated, so the analysis thread can read it while the loop updates it.
    Engines are built on the analysis thread (loading a tiktoken encoding takes a moment).
    """

    def __init__(self, notify: Notify) -> None:
        self._notify = notify
        self.init_settings: dict[str, Any] = {}
        self.config_settings: dict[str, Any] = {}
        self.root: Path | None = None
        self._lock = threading.Lock()
        self._project: dict[Path | None, Settings] = {}
        self._resolved: dict[Path | None, Settings] = {}
        self._engines: dict[str, Engine] = {}
        self._shown: set[str] = set()
        self.generation = 0
        self.trusted = True  # set once from initializationOptions.trusted, before any settings are read

    # --- inputs ----------------------------------------------------------------------------------------------
    def set_initialization_options(self, options: Any) -> None:
        if isinstance(options, dict):
            self.init_settings = _client_keys(options.get("settings"))
        self._changed()

    def set_configuration(self, value: Any) -> None:
        self.config_settings = _client_keys(value)
        self._changed()

    def project_files_changed(self) -> None:
        with self._lock:
            self._project = {}
        self._changed()

    def _changed(self) -> None:
        with self._lock:
            self._resolved = {}
            self._shown = set()
            self.generation += 1

    @property
    def client(self) -> dict[str, Any]:
        return {**self.init_settings, **self.config_settings}

    # --- resolution --------------------------------------------------------------------------------------------
    def _say(self, message: str, error: bool = False) -> None:
        if message in self._shown:
            return
        self._shown.add(message)
        log.warning("%s", message)
        self._notify(message, error)

    def folder_for(self, path: Path | None) -> Path | None:
        if path is not None:
            return path.parent
        return self.root

    def settings_for(self, path: Path | None) -> Settings:
        """Settings for a file (None: an unsaved buffer, which gets the workspace's settings)."""
        folder = self.folder_for(path)
        with self._lock:
            hit = self._resolved.get(folder)
            if hit is not None:
                return hit
            project = self._project.get(folder)
            if project is None:
                project = self._load_project(folder)
                self._project[folder] = project
            settings = project
            for key, value in _merge_order(self.client):
                if not self.trusted and is_restricted_setting(value):
                    self._quietly(f"tuneline: the setting `{key[0]}` is ignored in an untrusted workspace.")
                    continue
                try:
                    settings = settings.merged(value, "editor settings")
                except ConfigError as exc:
                    self._say(f"tuneline: {exc}; using the default for it.")
            self._resolved[folder] = settings
            return settings

    def _quietly(self, message: str) -> None:
        """Said once per settings generation, to the log only (not worth a pop-up on every untrusted folder)."""
        if message not in self._shown:
            self._shown.add(message)
            log.info("%s", message)

    def _load_project(self, folder: Path | None) -> Settings:
        if folder is None:
            return Settings()
        try:
            settings = load_settings(folder)
            if not self.trusted:
                settings, dropped = restrict(settings)
                for name in dropped:
                    self._quietly(f"tuneline: `{name}` in the project's settings is ignored in an untrusted workspace.")
            return settings
        except ConfigError as exc:
            self._say(f"tuneline: {exc}. Using default settings until it is fixed.", error=True)
        except Exception as exc:  # an unreadable folder or a broken file must not stop the server
            self._say(f"tuneline: cannot read project settings near {folder}: {exc}. Using defaults.", error=True)
        return Settings()

    def engine_for(self, path: Path | None) -> Engine:
        return self.engine(self.settings_for(path))

    def engine(self, settings: Settings) -> Engine:
        # Settings that only the editor uses must not cost a re-analysis of every open file.
        settings = replace(settings, inlay_hints=True)
        key = repr(settings)
        with self._lock:
            hit = self._engines.get(key)
        if hit is not None:
            return hit
        engine = self._build(settings)
        with self._lock:
            if len(self._engines) > 8:
                self._engines.clear()
            self._engines[key] = engine
        return engine

    def _build(self, settings: Settings) -> Engine:
        try:
            engine = Engine(settings)
            counter = self._counter(engine)  # a local: target and a tokenizer setting: trusted only (`restrict`)
            if counter is not None:
                engine = Engine(settings, example_counter=counter)
            return engine
        except (TargetError, ProvidersFileError) as exc:
            self._say(f"tuneline: {exc} Checking for the default target instead.", error=True)
            try:
                return Engine(replace(settings, target=None, method=None, model=Settings().model))
            except Exception as exc2:
                log.error("engine for the default target failed: %s", exc2)
        except EncodingUnavailable as exc:
            model = _model_name(settings)
            self._say(
                f"tuneline: {exc}. Counting tokens for {model} with {FALLBACK_ENCODING} instead (an estimate).",
                error=True,
            )
            models = dict(settings.models)
            models[model] = {**models.get(model, {}), "encoding": FALLBACK_ENCODING}
            try:
                return Engine(replace(settings, models=models))
            except Exception as exc2:
                log.error("fallback engine failed: %s", exc2)
        except Exception as exc:  # a broken models file or model table override
            self._say(f"tuneline: cannot use these settings ({exc}); using the default model table.", error=True)
            try:
                return Engine(replace(settings, models={}, models_file=None))
            except Exception as exc2:
                log.error("engine without model overrides failed: %s", exc2)
        return Engine(Settings())

    def _counter(self, engine: Engine) -> Any:
        """The exact counter `tuneline check` would use (token_counters.py), or None with one message: counts then
        stay o200k_base estimates (≈). A relative folder is the workspace's, not the server's working folder (an
        empty one of the extension's). The model table's tokenizer missing from the cache goes to the log only
        (every Together user without it would get a pop-up)."""
        try:
            return load_counter(engine, self.root)
        except CounterUnavailable as exc:
            if exc.missing_repo and engine.family_tokenizer is not None:
                self._quietly(f"tuneline: {engine.family_tokenizer.fetch_hint(engine.target, _SET_TOKENIZER)}")
            elif exc.needs_extra:
                message = f"tuneline: {exc}; token counts are o200k_base estimates."
                (self._say if exc.named else self._quietly)(message)
            else:
                self._say(f"tuneline: {exc}. Token counts are o200k_base estimates until it loads.")
        return None


_SET_TOKENIZER = "set tuneline.tokenizer to a folder"
_TARGET_KEYS = ("target", "method")


def _merge_order(client: dict[str, Any]) -> list[tuple[tuple[str, ...], dict[str, Any]]]:
    """The editor's settings as groups to merge one at a time (a bad one is dropped with a message, the rest
    apply). `target` and `method` go together and after `model`: a method is checked against the target's
    provider, and a `model` alone replaces the project's target while a `target` beside it wins."""
    groups: list[tuple[tuple[str, ...], dict[str, Any]]] = [
        ((key,), {key: value}) for key, value in client.items() if key not in _TARGET_KEYS
    ]
    pair = {key: client[key] for key in _TARGET_KEYS if key in client}
    if pair:
        groups.append((tuple(pair), pair))
    return groups


def _model_name(settings: Settings) -> str:
    try:
        files = [Path(settings.models_file)] if settings.models_file else None
        return ModelTable(settings.models, files).resolve(settings.model).name
    except Exception:
        return settings.model
