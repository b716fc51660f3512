"""The one list of training backends: name, the module that holds it, and where its API key lives.

The CLI's `--backend` choices, the editor's train command, the key check before a run starts, recovery and the
backends' own `key_env` all read this table, so adding a backend is one row here plus its module. Nothing here
imports a backend: modules are loaded by name (`get_backend`) only when a run is planned or started.

Some hosted backends need more than a key: Azure needs its resource endpoint, an OpenAI-compatible endpoint its base
URL. Those come from an environment variable or from a request option (`--base-url`), and `required_env` says which
are missing, so the key check before a run and the recovery of a run agree on what "ready" means.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Setting:
    """Something a hosted backend needs besides its key: from `option` in the request, else from `env`."""

    env: str
    option: str
    help: str  # what the user puts there, for the "not set" sentence


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # imported lazily: it may pull in an SDK or torch
    key_env: str | None = None  # environment variable holding the API key (hosted backends)
    key_help: str | None = None  # where the user gets that key, for the "not set" sentence
    title: str = ""  # the provider's name in sentences
    key_option: str | None = None  # a request option naming another key variable (`--api-key-env NAME`)
    settings: tuple[Setting, ...] = ()  # endpoint and the like, needed before anything starts


BACKENDS: dict[str, BackendInfo] = {
    info.name: info
    for info in (
        BackendInfo(
            "openai",
            "tuneline.training.backends.openai_backend",
            "OPENAI_API_KEY",
            "create one at https://platform.openai.com/api-keys",
            "OpenAI",
        ),
        BackendInfo(
            "together",
            "tuneline.training.backends.together_backend",
            "TOGETHER_API_KEY",
            "find it at https://api.together.ai/settings/api-keys",
            "Together AI",
        ),
        BackendInfo(
            "fireworks",
            "tuneline.training.backends.fireworks_backend",
            "FIREWORKS_API_KEY",
            "create one at https://app.fireworks.ai/settings/users/api-keys",
            "Fireworks AI",
        ),
        BackendInfo(
            "azure",
            "tuneline.training.backends.azure_backend",
            "AZURE_OPENAI_API_KEY",
            "copy it from your Azure OpenAI resource's 'Keys and Endpoint' page in the Azure portal",
            "Azure OpenAI",
            settings=(
                Setting(
                    "AZURE_OPENAI_ENDPOINT",
                    "endpoint",
                    "your resource's endpoint, such as https://NAME.openai.azure.com",
                ),
            ),
        ),
        BackendInfo(
            "openai-compatible",
            "tuneline.training.backends.openai_compatible_backend",
            "TUNELINE_API_KEY",
            "use the key of the endpoint you train on (or name another variable with --api-key-env NAME)",
            "the OpenAI-compatible endpoint",
            key_option="api_key_env",
            settings=(
                Setting(
                    "TUNELINE_BASE_URL",
                    "base_url",
                    "the endpoint's API address, such as https://api.example.com/v1 (or pass --base-url URL)",
                ),
            ),
        ),
        BackendInfo("local", "tuneline.training.backends.local"),
    )
}
NAMES = tuple(BACKENDS)
DEFAULT = "openai"  # what the editor's train command uses when it names none
KEY_ENV = {name: info.key_env for name, info in BACKENDS.items() if info.key_env}  # the hosted ones
ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")


def unknown_backend(name: object) -> str:
    """The sentence for a backend name that is not in the table."""
    return f"unknown backend {name!r}; choose one of {', '.join(NAMES)}"


def key_variable(name: str, options: Mapping[str, Any] | None = None) -> str | None:
    """The environment variable that holds this run's API key: the table's, or the one `--api-key-env` names."""
    info = BACKENDS.get(name)
    if info is None or info.key_env is None:
        return None
    chosen = (options or {}).get(info.key_option) if info.key_option else None
    return chosen if isinstance(chosen, str) and ENV_NAME.fullmatch(chosen) else info.key_env


def required_env(
    name: str, options: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
) -> list[tuple[str, str]]:
    """(variable, what to put there) for each thing this backend still lacks before a run can start: its key,
    and settings such as an endpoint that neither the request's options nor the environment give."""
    info = BACKENDS.get(name)
    if info is None or info.key_env is None:
        return []
    env = environ or {}
    opts = options or {}
    missing: list[tuple[str, str]] = []
    key = key_variable(name, opts)
    if key and not env.get(key):
        missing.append((key, info.key_help or "your API key"))
    for setting in info.settings:
        if not opts.get(setting.option) and not env.get(setting.env):
            missing.append((setting.env, setting.help))
    return missing
