"""The one list of training backends: name, the module that holds it, and where its API key lives.

The CLI's `--backend` choices, the editor's train command, the key check before a run starts, recovery and the
backends' own `key_env` all read this table, so adding a backend is one row here plus its module. Nothing here
imports a backend: modules are loaded by name (`get_backend`) only when a run is planned or started.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # imported lazily: it may pull in an SDK or torch
    key_env: str | None = None  # environment variable holding the API key (hosted backends)
    key_help: str | None = None  # where the user gets that key, for the "not set" sentence


BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo(
            "openai",
            "tuneline.training.backends.openai_backend",
            "OPENAI_API_KEY",
            "create one at https://platform.openai.com/api-keys",
        ),
        BackendInfo(
            "together",
            "tuneline.training.backends.together_backend",
            "TOGETHER_API_KEY",
            "find it at https://api.together.ai/settings/api-keys",
        ),
        BackendInfo("local", "tuneline.training.backends.local"),
    )
}
NAMES = tuple(BACKENDS)
DEFAULT = "openai"  # what the editor's train command uses when it names none
KEY_ENV = {name: info.key_env for name, info in BACKENDS.items() if info.key_env}  # the hosted ones


def unknown_backend(name: object) -> str:
    """The sentence for a backend name that is not in the table."""
    return f"unknown backend {name!r}; choose one of {', '.join(NAMES)}"
