"""The analysis engine: pure functions from dataset text to findings and numbers.

No LSP, no training, no I/O beyond reading the file a caller names. The CLI, the language server and the
training pre-flight all call this package.
"""

# ruff: noqa: E402 (the modules below are imported after the compiled ones are attached)
from . import native

native.attach(__path__, "analysis")  # the compiled per-line modules, when built from these sources (native.py)

from .catalog import RULES, Rule, lookup
from .config import ConfigError, Settings, load_settings
from .engine import Dataset, Engine, Summary
from .formats import FORMAT_TITLES
from .report import FileReport, check_bytes, check_path
from .types import Edit, Finding, Fix, LineResult, Related, Severity, Span

__all__ = [
    "FORMAT_TITLES",
    "RULES",
    "ConfigError",
    "Dataset",
    "Edit",
    "Engine",
    "FileReport",
    "Finding",
    "Fix",
    "LineResult",
    "Related",
    "Rule",
    "Settings",
    "Severity",
    "Span",
    "Summary",
    "check_bytes",
    "check_path",
    "load_settings",
    "lookup",
]
