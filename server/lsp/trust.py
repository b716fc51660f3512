"""Workspace trust: what the server refuses when the editor says the workspace is not trusted.

An untrusted workspace is a repository the user has not vouched for, so everything in it is input, including its
`tuneline.toml` / `pyproject.toml`, and so is every editor setting a workspace can carry. The client says so with
`initializationOptions.trusted: false` (VS Code's restricted mode); a client that says nothing is trusted, since
other editors have no such notion. Trust is read once, from `initializationOptions` only: settings (which a
repository can set through `.vscode/settings.json` or its own config file) can never grant it.

Untrusted, the server ignores every setting that names a path, a model to load or a directory, whatever its
source (a `target = "local:PATH"` too: it loads the model's tokenizer from disk; and `tokenizer`, a folder or repo to
load an open model's tokenizer from), and refuses the training commands (which upload files, spend money, start
processes and signal them). The model table's own tokenizer for an open model still loads: tuneline's data names it,
and it comes only from the user's own Hugging Face cache, never from the workspace.
Linting, hover, fixes and statistics work as usual: they only read the open documents.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from tuneline.analysis import Settings

# Settings fields (snake_case) that name a file, a model to load or a directory.
RESTRICTED = ("models_file", "validation_file", "embedding_model", "tokenizer")
RESTRICTED_KEYS = frozenset(
    {*RESTRICTED, "modelsFile", "validationFile", "embeddingModel", "runsDir", "runsDirectory", "runs_dir"}
)
TRAINING_COMMANDS = frozenset(
    {
        "tuneline.train",
        "tuneline.preflight",
        "tuneline.runs",
        "tuneline.resumeRun",
        "tuneline.cancelRun",
        "tuneline.evaluate",
        "tuneline.askTuned",
    }
)
REFUSED = (
    "Training is turned off in an untrusted workspace: trust the workspace to check, start, resume, cancel or "
    "evaluate runs, or ask a tuned model."
)


def trusted_from(options: Any) -> bool:
    """`initializationOptions.trusted`: absent means trusted; anything but `true` when present means untrusted."""
    if not isinstance(options, dict) or "trusted" not in options:
        return True
    return options["trusted"] is True


def is_restricted_key(key: str) -> bool:
    return key in RESTRICTED_KEYS or key.replace("-", "_") in RESTRICTED_KEYS


def is_local_target(value: Any) -> bool:
    """A `target` of `local:PATH` loads a model's tokenizer (and its files) from disk: a restricted value."""
    return isinstance(value, str) and value.strip().lower().startswith("local:")


def is_restricted_setting(group: dict[str, Any]) -> bool:
    """An editor settings group that names a path or a model to load, by key or (a local target) by value."""
    return any(is_restricted_key(k) for k in group) or is_local_target(group.get("target"))


def restrict(settings: Settings) -> tuple[Settings, list[str]]:
    """`settings` without the restricted fields, and the names of those that were set (to tell the user once)."""
    dropped = [name for name in RESTRICTED if getattr(settings, name) is not None]
    local = is_local_target(settings.target)
    if not dropped and not local:
        return settings, []
    changes: dict[str, Any] = dict.fromkeys(dropped)
    if local:  # the method goes with it: it was checked against the local provider
        changes.update(target=None, method=None)
        dropped.append("target")
    return replace(settings, **changes), dropped


def inside(path: Path, roots: list[Path]) -> bool:
    """`path`, with every symlink followed, lies inside one of `roots` (already resolved)."""
    try:
        real = path.resolve()
    except (OSError, RuntimeError):  # a symlink loop
        return False
    return any(real == root or real.is_relative_to(root) for root in roots)
