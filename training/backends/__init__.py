"""Training backends. The table of them is `registry.BACKENDS`; each one is imported lazily by name, so the CLI
and the server never load an SDK or torch just to list runs."""

from __future__ import annotations

import importlib

from .base import Backend
from .registry import BACKENDS, KEY_ENV, NAMES, unknown_backend

__all__ = ["BACKENDS", "KEY_ENV", "NAMES", "get_backend"]


def get_backend(name: str) -> Backend:
    if name not in BACKENDS:
        raise KeyError(unknown_backend(name))
    module = importlib.import_module(BACKENDS[name].module)
    return module.BACKEND
