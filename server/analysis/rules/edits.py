"""Fix builders that work on the scanned line: replace a value, remove a key, insert into a list."""

from __future__ import annotations

import json

from ..scan import Node, PathItem, node_at
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


def remove_substring(span: Span, title: str, *, safe: bool = False) -> FixBuilder:
    def build(root: Node, text: str) -> Fix | None:
        return Fix(title, (Edit(span, ""),), safe=safe)

    return build
