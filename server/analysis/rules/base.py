"""What rule functions share: a collector of findings addressed by JSON path, resolved to spans later."""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass

from ..scan import Node, PathItem
from ..types import Fix, Severity

FixBuilder = Callable[[Node, str], "Fix | None"]


@dataclass(slots=True)
class Pending:
    """A finding addressed by JSON path; the engine turns the path into a span only when it has to."""

    code: str
    message: str
    path: tuple[PathItem, ...] = ()
    key: bool = False  # point at the key rather than the value
    fix: FixBuilder | None = None
    severity: Severity | None = None


class Collector:
    __slots__ = ("items",)

    def __init__(self) -> None:
        self.items: list[Pending] = []

    def add(
        self,
        code: str,
        message: str,
        path: tuple[PathItem, ...] = (),
        *,
        key: bool = False,
        fix: FixBuilder | None = None,
        severity: Severity | None = None,
    ) -> None:
        self.items.append(Pending(code, message, path, key, fix, severity))


def nearest(word: str, choices: tuple[str, ...] | list[str]) -> str | None:
    """The closest valid spelling (case-insensitive), for "did you mean" messages and fixes."""
    lowered = word.strip().lower()
    for c in choices:
        if c == lowered:
            return c
    match = difflib.get_close_matches(lowered, choices, n=1, cutoff=0.6)
    return match[0] if match else None


def describe(value: object) -> str:
    """JSON type name of a parsed value, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def short(text: str, limit: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
