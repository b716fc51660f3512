"""The counter that makes a target's token counts exact, chosen and loaded once for every front end.

A `local:PATH` target counts with the model folder's own tokenizer and template; an open model on a hosted provider
with its family's Hugging Face tokenizer (the `tokenizer` setting, else the model table's repo from the cache). Both
are the local trainer's counting code (training/backends/local), loaded lazily. Which counter, where a relative
folder points and what went wrong are decided here; how to say it (a usage error, a stderr note, an editor message
or a log line) is each front end's.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .analysis import Engine
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
