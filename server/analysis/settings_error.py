"""The error for settings that cannot be used, in a module of its own so every module that reads settings data
(config.py, models.py) can raise it without importing the other."""

from __future__ import annotations


class ConfigError(ValueError):
    """A project or editor setting that cannot be used; the message names the key and the file."""
