"""Training backends. Each one is imported lazily by name, so the CLI and the server never load an SDK or torch
just to list runs."""

from __future__ import annotations

import importlib

from .base import Backend

_MODULES = {
    "openai": "tuneline.training.backends.openai_backend",
    "together": "tuneline.training.backends.together_backend",
    "local": "tuneline.training.backends.local",
}
NAMES = tuple(_MODULES)


def get_backend(name: str) -> Backend:
    if name not in _MODULES:
        raise KeyError(f"unknown backend {name!r}; choose one of {', '.join(NAMES)}")
    module = importlib.import_module(_MODULES[name])
    return module.BACKEND
