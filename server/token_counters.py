"""The counter that makes a target's token counts exact, chosen and loaded once for every front end.

A `local:PATH` target counts with the model folder's own tokenizer and template; an open model on a hosted provider
with its family's Hugging Face tokenizer (the `tokenizer` setting, else the model table's repo from the cache). Both
are the local trainer's counting code (training/backends/local), loaded lazily. Which counter, where a relative
folder points and what went wrong are decided here; how to say it (a usage error, a stderr note, an editor message
or a log line) is each front end's.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from .analysis import Engine, Settings
from .analysis.config import names_relative_folder


@dataclass
class CounterUnavailable(Exception):
    """The exact counter could not be loaded; counts stay o200k_base estimates."""

    reason: str  # one sentence without the front end's prefix
    named: bool  # the user named what failed to load (a local: target, a tokenizer setting), not our model table
    missing_repo: bool = False  # the model table's repo is not in the Hugging Face cache: `fetch_hint` says how
    needs_extra: bool = False  # transformers is not installed (the `local` extra)

    def __str__(self) -> str:
        return self.reason


def load_counter(engine: Engine, root: Path | None = None) -> Any:
    """The exact counter for `engine`'s target, or None when its counts need none (tiktoken). `root`: the folder a
    relative path the user wrote is relative to (the editor's workspace; None: the working folder, as on a command
    line). Raises CounterUnavailable."""
    if engine.target.provider == "local":
        model = engine.target.model or ""
        return _load(model, f"local:{model}", "counting with the model's tokenizer", named=True, root=root)
    choice = engine.family_tokenizer
    if choice is None:
        return None
    mine = choice.origin == "setting"
    return _load(
        choice.name, f"tokenizer {choice.name}", "counting with a Hugging Face tokenizer", named=mine, root=root
    )


def anchored(settings: Settings, root: Path | None) -> Settings:
    """`settings` with a `tokenizer` folder written relative to `root` (the editor's workspace) made absolute, for
    code that loads it without knowing that root (the training pre-flight and the backends it calls); a project
    file's relative folder is already made absolute against the file's folder when it is read."""
    value = settings.tokenizer
    if root is None or not value or not names_relative_folder(value, root):
        return settings
    return replace(settings, tokenizer=str((root / value).resolve()))


def exact_engine(
    settings: Settings, *, other: str = "pass --tokenizer FOLDER", local: bool = True, details: bool = True
) -> tuple[Engine, str | None]:
    """The engine for `settings`, counting with its target's exact counter when that loads (`tuneline check`,
    `tuneline train`'s pre-flight), plus None; else the estimating engine plus the one sentence that says the counts
    are o200k_base estimates and, for a tokenizer missing from the cache, how to fetch it (`other`: the front end's
    way to name a tokenizer instead). A counter the user named (a `local:` folder, a `tokenizer` setting) that does
    not load raises CounterUnavailable: that is a mistake to hear about, not an estimate to settle for. `local`
    False keeps a `local:` target's engine estimating (its tokenizer would bring torch in). `details`: as Engine's
    (a terminal shows no outline). Engine's own errors (TargetError, ProvidersFileError) propagate."""
    engine = Engine(settings, details=details)
    if not local and engine.target.provider == "local":
        return engine, None
    try:
        counter = load_counter(engine)
    except CounterUnavailable as exc:
        if exc.named:
            raise
        choice = engine.family_tokenizer
        hint = choice.fetch_hint(engine.target, other) if exc.missing_repo and choice else None
        return engine, hint or f"token counts are o200k_base estimates (≈): {exc}."
    if counter is None:
        return engine, None
    return Engine(settings, example_counter=counter, details=details), None


def tokenizer_cached(repo: str) -> bool | None:
    """Whether the Hugging Face repo `repo` is in the user's cache, looked up the way a check loads the model
    table's tokenizer (offline, never downloaded, never a folder of that name). None: this install cannot count
    with it either way (the `local` extra is not installed)."""
    import importlib.util

    if importlib.util.find_spec("transformers") is None:
        return None
    try:
        from .training.backends.base import BackendError
        from .training.backends.local.token_counts import tokenizer_folder

        tokenizer_folder(repo, hub_only=True)
    except ImportError:
        return None
    except BackendError:
        return False
    return True


def _load(location: str, label: str, doing: str, *, named: bool, root: Path | None) -> Any:
    from .training.backends import get_backend
    from .training.backends.base import BackendError

    local = label.startswith("local:")
    if named and root is not None and names_relative_folder(location, root):
        location = str((root / location).resolve())
    backend: Any = get_backend("local")
    try:
        return backend.token_counter(location) if local else backend.template_counter(location, hub_only=not named)
    except BackendError as exc:
        raise CounterUnavailable(f"{label}: {exc}", named, missing_repo=not named) from None
    except ImportError:
        why = f"{doing} needs transformers (pip install 'tuneline[local]')"
        raise CounterUnavailable(f"{label}: {why}" if named else why, named, needs_extra=True) from None
