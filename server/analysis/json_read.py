"""Reading a JSONL line's value fast, with json's exact answers.

msgspec's C decoder reads a line in about half of json.loads' time and returns the same Python value. A line it
refuses (invalid JSON, a number out of float range, a lone surrogate escape, nesting that json may or may not
manage) is read again by the json decoder the caller names, so every error message, and every value json accepts
and msgspec does not, stays json's own. `tests/analysis/test_fast_json.py` compares the two on mutated lines and
at every nesting depth around both parsers' limits.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import msgspec

_FAST_DECODE = msgspec.json.Decoder().decode
# Below this many brackets a line nests too shallowly for either parser's recursion limit (json's depends on the
# caller's stack depth, msgspec's does not), so both read it alike.
_SHALLOW = 400


def shallow(text: str) -> bool:
    """Whether `text` nests too shallowly for either parser's recursion limit (msgspec may read it first)."""
    return len(text) < 2 * _SHALLOW or text.count("[") + text.count("{") < _SHALLOW


def read_json(text: str, slow: Callable[[str], Any] = json.loads) -> tuple[Any, bool]:
    """`text`'s value, and whether msgspec read it (then it holds only finite numbers and valid strings).

    `slow` reads what msgspec refuses and raises json's errors (json.loads, or a decoder with the caller's options);
    it must accept no less than msgspec does, which holds for json's decoders."""
    if shallow(text):
        try:
            return _FAST_DECODE(text), True
        except (msgspec.DecodeError, RecursionError, UnicodeError):  # UnicodeError: a lone surrogate in the text
            pass
    return slow(text), False


def read_ahead(lines: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The value of every line among `lines` that holds chat messages and that msgspec reads at once, by its text:
    what `read_json` returns for it. A chunk's lines are read here once, for `TokenCounter.prefill` to count their
    messages, and the rules take the same value (`analyze_line`'s `value`) instead of reading the line again."""
    out: dict[str, dict[str, Any]] = {}
    for line in lines:
        if '"messages"' not in line or not shallow(line):
            continue
        try:
            value = _FAST_DECODE(line)
        except (msgspec.DecodeError, RecursionError, UnicodeError):
            continue
        if type(value) is dict:
            out[line] = value
    return out


def message_texts(values: Iterable[dict[str, Any]]) -> Iterator[str]:
    """The string `content` of every message of `values` (from `read_ahead`): what a chunk's token counts are
    mostly spent on, for `TokenCounter.prefill`."""
    for value in values:
        messages = value.get("messages")
        if type(messages) is list:
            for m in messages:
                if type(m) is dict and type(content := m.get("content")) is str:
                    yield content
