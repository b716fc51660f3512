"""Fix builders: edits that work on the scanned line (replace a value, remove a key), and the whole-line fixes
the file-level rules attach (insert the common system prompt, convert a line to chat)."""

from __future__ import annotations

import json
import re
from functools import lru_cache

from ..formats import detect, to_chat_line
from ..lines import BOM
from ..scan import Node, PathItem, ScanError, node_at, scan
from ..types import Edit, Fix, Span
from .base import FixBuilder


def replace_value(path: tuple[PathItem, ...], new_value: object, title: str, *, safe: bool = True) -> FixBuilder:
    def build(root: Node, text: str) -> Fix | None:
        node = node_at(root, path)
        if node is None:
            return None
        return Fix(title, (Edit(node.span, json.dumps(new_value, ensure_ascii=False)),), safe=safe)

    return build


def remove_key(obj_path: tuple[PathItem, ...], key: str, title: str, *, safe: bool = False) -> FixBuilder:
    """Delete `"key": value` and exactly one neighbouring comma, whatever the key's position."""

    def build(root: Node, text: str) -> Fix | None:
        obj = node_at(root, obj_path)
        if obj is None or obj.kind != "object" or key not in obj.keys:
            return None
        names = list(obj.keys)
        i = names.index(key)
        key_span, value = obj.keys[key]
        if i + 1 < len(names):
            span = Span(key_span.start, obj.keys[names[i + 1]][0].start)
        elif i > 0:
            span = Span(obj.keys[names[i - 1]][1].end, value.end)
        else:
            span = Span(key_span.start, value.end)
        return Fix(title, (Edit(span, ""),), safe=safe)

    return build


def chat_conversion(raw: str) -> str | None:
    """The line rewritten as an OpenAI chat example (alpaca and sharegpt lines), for the conversion fix."""
    text = raw[1:] if raw.startswith(BOM) else raw
    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    return to_chat_line(obj, detect(obj)) if isinstance(obj, dict) else None


# A line that opens with its `messages` array: `{"messages": [` (JSON whitespace allowed between).
_MESSAGES_FIRST = re.compile(r'[ \t\n\r]*\{[ \t\n\r]*"messages"[ \t\n\r]*:[ \t\n\r]*(\[)[ \t\n\r]*')


@lru_cache(maxsize=4096)
def system_prompt_fix(text: str, prompt: str) -> Fix | None:
    """Insert `prompt` as the first message of a chat line, keeping the rest of the line byte for byte.

    Most chat lines start with their `messages` key: when that key is the line's only `"messages"`, its array opens
    where the line's first characters say, and the scanner (~100 µs a line, for every line of a file where 40% lack
    the prompt) is not needed. Any other line is scanned: a key later in the line, or the word elsewhere too (a
    repeated key, whose last value counts, or quoted inside a text)."""
    offset = 1 if text.startswith(BOM) else 0
    first = _MESSAGES_FIRST.match(text, offset)
    if first is not None and text.count('"messages"') == 1:
        at, empty = first.end(1), text.startswith("]", first.end())
    else:
        try:
            root = scan(text[offset:])
        except (ScanError, RecursionError):
            return None
        messages = node_at(root, ("messages",))
        if messages is None or messages.kind != "array":
            return None
        at, empty = messages.open_inside + offset, not messages.items
    message = json.dumps({"role": "system", "content": prompt}, ensure_ascii=False)
    insert = message + ("" if empty else ", ")
    return Fix("Add the file's common system prompt", (Edit(Span(at, at), insert),), safe=True)


@lru_cache(maxsize=4096)
def conversion_fix(text: str) -> Fix | None:
    """Rewrite an alpaca or sharegpt line as a chat line (not `safe`: it changes the line's shape)."""
    converted = chat_conversion(text)
    if converted is None:
        return None
    return Fix("Convert this example to chat messages", (Edit(Span(0, len(text)), converted),), safe=False)
