"""A JSON scanner that keeps spans, for pointing findings at the exact key or value.

The standard library parses fast but forgets where things were. The engine parses every line with `json.loads`
and runs this scanner only on lines that have a finding to place, so its cost is paid per problem, not per line.
Numbers and literals are matched with compiled regexes. A string's end is found with `str.find` for its closing
quote, not with a regex: `re` keeps backtracking state for every character of `"(?:[^"\\]|\\.)*"` (~120 bytes
each, 6 GB for a 50 MB string) and for every escape of the unrolled form, while the search for the quote needs no
memory at all and runs at memchr speed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from .types import Span

_WS = re.compile(r"[ \t\n\r]*")
_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][-+]?\d+)?")
_LITERALS = ("true", "false", "null")

PathItem = str | int


@dataclass(slots=True)
class Node:
    """A JSON value's place in the line. Objects map key -> (key span, value node); arrays list their nodes."""

    kind: str  # "object" | "array" | "string" | "number" | "literal"
    start: int
    end: int
    keys: dict[str, tuple[Span, Node]] = field(default_factory=dict)
    items: list[Node] = field(default_factory=list)

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)

    @property
    def open_inside(self) -> int:
        """Offset just after the opening bracket of an object or array."""
        return self.start + 1


class ScanError(ValueError):
    pass


def string_end(text: str, pos: int) -> int:
    """The offset just after the JSON string whose opening quote is at `pos`.

    A quote closes the string when an even number of backslashes precedes it: the character before that run of
    backslashes is not a backslash, so the run pairs up from its start whatever came before it. Memory stays
    constant however long the string is; time is linear, with one Python step per escaped quote.
    """
    find = text.find
    end = pos
    while True:
        end = find('"', end + 1)
        if end < 0:
            raise ScanError("unterminated string")
        before = end - 1
        while text[before] == "\\":  # stops at the opening quote at the latest
            before -= 1
        if (end - 1 - before) % 2 == 0:
            return end + 1


class _Scanner:
    def __init__(self, text: str) -> None:
        self.text = text
        self.depth = 0

    def ws(self, pos: int) -> int:
        return _WS.match(self.text, pos).end()  # type: ignore[union-attr]

    def value(self, pos: int) -> Node:
        text = self.text
        pos = self.ws(pos)
        if pos >= len(text):
            raise ScanError("unexpected end of line")
        ch = text[pos]
        if ch == "{":
            return self.object(pos)
        if ch == "[":
            return self.array(pos)
        if ch == '"':
            return Node("string", pos, string_end(text, pos))
        m = _NUMBER.match(text, pos)
        if m and m.end() > pos:
            return Node("number", pos, m.end())
        for lit in _LITERALS:
            if text.startswith(lit, pos):
                return Node("literal", pos, pos + len(lit))
        raise ScanError(f"unexpected character {ch!r}")

    def object(self, pos: int) -> Node:
        text = self.text
        node = Node("object", pos, pos)
        pos = self.ws(pos + 1)
        if pos < len(text) and text[pos] == "}":
            node.end = pos + 1
            return node
        while True:
            pos = self.ws(pos)
            if pos >= len(text) or text[pos] != '"':
                raise ScanError("expected a key")
            end = string_end(text, pos)
            raw = text[pos:end]
            key = raw[1:-1] if "\\" not in raw else json.loads(raw)
            key_span = Span(pos, end)
            pos = self.ws(end)
            if pos >= len(text) or text[pos] != ":":
                raise ScanError("expected ':'")
            value = self.value(pos + 1)
            node.keys[key] = (key_span, value)
            pos = self.ws(value.end)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            if pos < len(text) and text[pos] == "}":
                node.end = pos + 1
                return node
            raise ScanError("expected ',' or '}'")

    def array(self, pos: int) -> Node:
        text = self.text
        node = Node("array", pos, pos)
        pos = self.ws(pos + 1)
        if pos < len(text) and text[pos] == "]":
            node.end = pos + 1
            return node
        while True:
            value = self.value(pos)
            node.items.append(value)
            pos = self.ws(value.end)
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            if pos < len(text) and text[pos] == "]":
                node.end = pos + 1
                return node
            raise ScanError("expected ',' or ']'")


def scan(text: str) -> Node:
    """Scan one JSON value (a whole line). Raises ScanError on text that `json.loads` would reject."""
    return _Scanner(text).value(0)


def locate(root: Node, path: tuple[PathItem, ...], *, key: bool = False) -> Span | None:
    """The span of the value at `path`, or of its key when `key` is true (the last path item must be a key).

    Falls back to the nearest existing ancestor when the path runs out (a missing key points at its object).
    """
    node = root
    key_span: Span | None = None
    for item in path:
        if isinstance(item, str):
            if node.kind != "object" or item not in node.keys:
                return node.span
            key_span, node = node.keys[item]
        else:
            if node.kind != "array" or not (0 <= item < len(node.items)):
                return node.span
            key_span, node = None, node.items[item]
    if key and key_span is not None:
        return key_span
    return node.span


def node_at(root: Node, path: tuple[PathItem, ...]) -> Node | None:
    node = root
    for item in path:
        if isinstance(item, str):
            if node.kind != "object" or item not in node.keys:
                return None
            node = node.keys[item][1]
        else:
            if node.kind != "array" or not (0 <= item < len(node.items)):
                return None
            node = node.items[item]
    return node
