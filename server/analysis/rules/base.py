"""What rule functions share: a collector of findings addressed by JSON path, resolved to spans later."""

from __future__ import annotations

import difflib
import json
import re
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


def normal_ascii(text: str) -> bool:
    """Whether `text` is ASCII with no whitespace but single spaces between words, so that `" ".join(text.split())`
    would give it back unchanged: a dozen substring tests in C (every ASCII character `str.split` splits on,
    listed), ~0.5 µs for a 200-character text where splitting and joining it cost ~1.3 µs."""
    return (
        text.isascii()
        and "  " not in text
        and text[:1] != " "
        and text[-1:] != " "
        and "\n" not in text
        and "\t" not in text
        and "\r" not in text
        and "\x0b" not in text
        and "\x0c" not in text
        and "\x1c" not in text
        and "\x1d" not in text
        and "\x1e" not in text
        and "\x1f" not in text
    )


def word_list(words: tuple[str, ...] | list[str], last: str = "and") -> str:
    """ "a, b and c" (or "a, b or c") for a finding's message."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + f" {last} " + words[-1]


def short(text: str, limit: int = 60) -> str:
    """`text` with its whitespace normalised, cut to `limit` characters with an ellipsis. Its first `limit + 1`
    characters decide when they are normal already (what follows can only add to the end): every example's outline
    label is made here."""
    head = text[: limit + 1]
    if not normal_ascii(head):
        head = " ".join(text.split())
    return head if len(head) <= limit else head[: limit - 1] + "…"


_DIGIT_LIMIT = re.compile(r"Exceeds the limit \((\d+) digits\).*?value has (\d+) digits")


def json_error_words(exc: BaseException) -> str:
    """Why json refused a text, in the user's words: its integer-size error ends in advice for Python programmers,
    and a RecursionError says nothing. For a JSONDecodeError, its own message."""
    if isinstance(exc, RecursionError):
        return "nesting is too deep to parse"
    if isinstance(exc, json.JSONDecodeError):
        return exc.msg
    m = _DIGIT_LIMIT.search(str(exc))
    if m is None:
        return str(exc)
    return (
        f"an integer with {int(m[2]):,} digits, more than the {int(m[1]):,} that Python's JSON readers (and so most "
        "trainers) take"
    )
