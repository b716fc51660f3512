"""`json.dumps(value, ensure_ascii=False, indent=2)`, byte for byte, in about 40% of its time.

Why: with `indent` set, json falls back to its pure-Python encoder, a generator per level; `check --format json`
on a file with tens of thousands of findings spent ~0.35 s of a 7 s run there (25,000 near-duplicate findings).
This writer builds the same text with json's own C string escaper and a flat list of pieces. It follows json's
rules for every value json takes (tuples as lists, int and float subclasses, NaN and infinities, non-string keys)
and raises TypeError where json does; `tests/test_json_text.py` compares the two on random values.
"""

from __future__ import annotations

from collections.abc import Iterable
from json.encoder import INFINITY, encode_basestring
from typing import Any

__all__ = ["Lazy", "dumps_indented", "pieces_indented"]


class Lazy:
    """A list whose items are made while it is written, one at a time, each kept only as its text.

    Why: `check --format json` of a file with 40,000 findings built 40,000 dicts (and ~20 pieces of text for
    each) before writing any: ~120 MB on top of the analysis, the run's peak. Written lazily, a finding's dict
    lives only while it is written. The text is the same as for a list of the same items (json itself does not
    take this type)."""

    __slots__ = ("items",)

    def __init__(self, items: Iterable[Any]) -> None:
        self.items = items


def dumps_indented(value: Any, indent: int = 2) -> str:
    return "".join(pieces_indented(value, indent))


def pieces_indented(value: Any, indent: int = 2) -> list[str]:
    """`dumps_indented`'s text as the pieces it is joined from, for a writer that need not hold it whole (a report
    of 40,000 findings is 17 MB of text, and joining it took twice that again: 2 bytes a character once a message
    holds "…")."""
    out: list[str] = []
    _write(value, out, "\n", " " * indent)
    return out


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == INFINITY:
        return "Infinity"
    if value == -INFINITY:
        return "-Infinity"
    return float.__repr__(value)


def _scalar(value: Any) -> str | None:
    """The text of a value that is not a container, or None for a list, tuple or dict."""
    if isinstance(value, str):
        return encode_basestring(value)
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, (list, tuple, dict, Lazy)):
        return None
    raise TypeError(f"Object of type {value.__class__.__name__} is not JSON serializable")


def _key(key: Any) -> str:
    if isinstance(key, str):
        return encode_basestring(key)
    if isinstance(key, (int, float)) or key is None:  # json writes these keys as their JSON text, quoted
        return '"' + _scalar(key) + '"'  # type: ignore[operator]
    raise TypeError(f"keys must be str, int, float, bool or None, not {key.__class__.__name__}")


def _write(value: Any, out: list[str], newline: str, step: str) -> None:
    text = _scalar(value)
    if text is not None:
        out.append(text)
        return
    inner = newline + step
    if isinstance(value, dict):
        if not value:
            out.append("{}")
            return
        opening = "{"
        for key, item in value.items():
            out.append(opening + inner + _key(key) + ": ")
            opening = ","
            if type(item) is str:  # the common leaf, without the general dispatch
                out.append(encode_basestring(item))
            else:
                _write(item, out, inner, step)
        out.append(newline + "}")
        return
    lazy = type(value) is Lazy
    opening = "["
    for item in value.items if lazy else value:
        out.append(opening + inner)
        opening = ","
        if lazy:
            pieces: list[str] = []
            _write(item, pieces, inner, step)
            out.append("".join(pieces))
        else:
            _write(item, out, inner, step)
    out.append("[]" if opening == "[" else newline + "]")
