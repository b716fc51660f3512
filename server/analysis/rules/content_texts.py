"""The texts of an example that content rules read, each with its role and JSON path, and spans inside them.

Why its own walk rather than `formats.message_view`: the content rules point at the offending words, so every
text must keep the path of the JSON string it came from, and a position inside the decoded string must map back
to a column of the raw line (escapes such as `\\n` or `\\u00e9` take more columns than the character they stand
for). The walk is cheap (no copies of the strings); the line is scanned only when a rule has something to place.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any, NamedTuple

from ..formats import SHAREGPT_ROLES
from ..scan import Node, PathItem, ScanError, node_at, scan
from ..types import Span

Path = tuple[PathItem, ...]

# Roles as content rules see them. "rejected" is the losing side of a preference pair: bad on purpose, so only the
# personal-data scan reads it. "text" is a raw-text example (no roles).
SYSTEM, USER, ASSISTANT, REJECTED, TEXT, TOOL = "system", "user", "assistant", "rejected", "text", "tool"


class Text(NamedTuple):
    role: str
    path: Path
    value: str
    answer: bool  # the example's trained answer: the last assistant turn (or the preferred / chosen side)


def _parts(content: Any, role: str, path: Path) -> Iterator[tuple[str, Path, str]]:
    if isinstance(content, str):
        yield role, path, content
    elif isinstance(content, list):
        for k, part in enumerate(content):
            if isinstance(part, dict) and isinstance(part.get("text"), str):
                yield role, (*path, k, "text"), part["text"]


_MESSAGE_ROLES = {"system": SYSTEM, "developer": SYSTEM, "user": USER, "assistant": ASSISTANT, "tool": TOOL}


def _messages(messages: Any, path: Path, *, answer_role: str = ASSISTANT) -> list[tuple[str, Path, str]]:
    out: list[tuple[str, Path, str]] = []
    if type(messages) is not list:
        return out
    roles = _MESSAGE_ROLES
    for i, m in enumerate(messages):
        if type(m) is not dict:
            continue
        role = m.get("role")
        role = roles.get(role) if type(role) is str else None
        if role is None:
            continue
        if role == ASSISTANT:
            role = answer_role
        content = m.get("content")
        if type(content) is str:
            out.append((role, (*path, i, "content"), content))
        elif type(content) is list:
            out.extend(_parts(content, role, (*path, i, "content")))
    return out


def _turns(turns: Any, path: Path, *, answer_role: str = ASSISTANT) -> list[tuple[str, Path, str]]:
    out: list[tuple[str, Path, str]] = []
    single = isinstance(turns, dict)
    for i, t in enumerate([turns] if single else turns if isinstance(turns, list) else []):
        if not isinstance(t, dict) or not isinstance(t.get("value"), str):
            continue
        who = t.get("from")
        role = SHAREGPT_ROLES.get(who.lower()) if isinstance(who, str) else None
        if isinstance(who, str) and who.lower() == "function_call":
            role = None  # a JSON call, not prose
        if role == ASSISTANT:
            role = answer_role
        if role in (SYSTEM, USER, ASSISTANT, REJECTED):
            out.append((role, (*path, "value") if single else (*path, i, "value"), t["value"]))
    return out


def _side(value: Any, path: Path, role: str) -> list[tuple[str, Path, str]]:
    """A preference side, a prompt or a completion: a string (in `role`'s voice) or a list of messages."""
    if isinstance(value, str):
        return [(role, path, value)]
    return _messages(value, path, answer_role=REJECTED if role == REJECTED else ASSISTANT)


def _raw_texts(obj: dict[str, Any], fmt: str) -> list[tuple[str, Path, str]]:
    if fmt in ("chat", "kto", "rft"):
        return _messages(obj.get("messages"), ("messages",))
    if fmt == "bedrock":
        return [*_parts(obj.get("system"), SYSTEM, ("system",)), *_messages(obj.get("messages"), ("messages",))]
    if fmt == "openai-preference":
        inp = obj.get("input")
        out = _messages(inp.get("messages"), ("input", "messages")) if isinstance(inp, dict) else []
        out += _messages(obj.get("preferred_output"), ("preferred_output",))
        return out + _messages(obj.get("non_preferred_output"), ("non_preferred_output",), answer_role=REJECTED)
    if fmt == "trl-preference":
        out = _side(obj.get("prompt"), ("prompt",), USER)
        out += _side(obj.get("chosen"), ("chosen",), ASSISTANT)
        return out + _side(obj.get("rejected"), ("rejected",), REJECTED)
    if fmt == "sharegpt-preference":
        out = _turns(obj.get("conversations"), ("conversations",))
        out += _turns(obj.get("chosen"), ("chosen",))
        return out + _turns(obj.get("rejected"), ("rejected",), answer_role=REJECTED)
    if fmt == "prompt-completion":
        return _side(obj.get("prompt"), ("prompt",), USER) + _side(obj.get("completion"), ("completion",), ASSISTANT)
    if fmt == "text":
        text = obj.get("text")
        return [(TEXT, ("text",), text)] if isinstance(text, str) else []
    if fmt in ("alpaca", "sharegpt"):
        out = [(SYSTEM, ("system",), obj["system"])] if isinstance(obj.get("system"), str) else []
        if fmt == "sharegpt":
            return out + _turns(obj.get("conversations"), ("conversations",))
        history = obj.get("history")
        if isinstance(history, list):
            for i, pair in enumerate(history):
                if isinstance(pair, list) and len(pair) == 2 and all(isinstance(x, str) for x in pair):
                    out += [(USER, ("history", i, 0), pair[0]), (ASSISTANT, ("history", i, 1), pair[1])]
        for key, role in (("instruction", USER), ("input", USER), ("output", ASSISTANT)):
            if isinstance(obj.get(key), str):
                out.append((role, (key,), obj[key]))
        return out
    return []


def example_texts(obj: dict[str, Any], fmt: str) -> tuple[list[tuple[str, Path, str]], int]:
    """Every (role, path, text) of the example in order, and the index of its answer (the last assistant text;
    -1 without one). Plain tuples: this runs on every line, and `Text` is built only for texts with a finding."""
    raw = _raw_texts(obj, fmt)
    last = -1
    for i in range(len(raw) - 1, -1, -1):
        if raw[i][0] == ASSISTANT:
            last = i
            break
    return raw, last


# --- positions ---------------------------------------------------------------------------------------------------
# One escape of a JSON string and how many characters it decodes to: a surrogate pair is two escapes for one
# character, everything else one.
_ESCAPE = re.compile(r"\\(?:u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}|u[0-9a-fA-F]{4}|.)")


class Locator:
    """Maps (path, range in the decoded string) to a span of the raw line; scans the line once, on first use."""

    __slots__ = ("_root", "_scanned", "offset", "text")

    def __init__(self, text: str, offset: int = 0) -> None:
        self.text = text
        self.offset = offset  # columns before `text` in the line (a byte order mark)
        self._root: Node | None = None
        self._scanned = False

    def node(self, path: Path) -> Node | None:
        if not self._scanned:
            self._scanned = True
            try:
                self._root = scan(self.text)
            except (ScanError, RecursionError):
                self._root = None
        return node_at(self._root, path) if self._root is not None else None

    def whole(self) -> Span:
        return Span(self.offset, self.offset + len(self.text))

    def value(self, path: Path) -> Span:
        node = self.node(path)
        if node is None:
            return self.whole()
        return Span(node.start + self.offset, node.end + self.offset)

    def span(self, path: Path, start: int, end: int) -> Span:
        """The raw columns of characters [start, end) of the decoded string at `path`."""
        node = self.node(path)
        if node is None or node.kind != "string":
            return self.value(path)
        first = node.start + 1
        raw = self.text
        inner_end = node.end - 1
        if raw.find("\\", first, inner_end) < 0:
            return Span(first + start + self.offset, first + end + self.offset)
        return Span(self._raw(first, inner_end, start) + self.offset, self._raw(first, inner_end, end) + self.offset)

    def _raw(self, first: int, inner_end: int, decoded: int) -> int:
        """The raw column of decoded character `decoded` (or the string's end) inside a string with escapes."""
        raw_pos, seen = first, 0
        for m in _ESCAPE.finditer(self.text, first, inner_end):
            plain = m.start() - raw_pos
            if seen + plain >= decoded:
                return raw_pos + (decoded - seen)
            seen += plain + 1
            raw_pos = m.end()
        return min(raw_pos + (decoded - seen), inner_end)
