"""The text of an example that near-duplicate detection compares: its user and assistant turns.

The system prompt is left out on purpose: a shared system prompt would make every example look alike.
"""

from __future__ import annotations

import json

from ..analysis.formats import detect, message_view
from ..analysis.lines import BOM


def _content(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return " ".join(p.get("text", "") for p in value if isinstance(p, dict) and isinstance(p.get("text"), str))
    if value is None:
        return ""
    return json.dumps(value, ensure_ascii=False)


def example_text(line: str) -> str | None:
    """The comparable text of one JSONL line, or None for a line that is not an example."""
    if line.startswith(BOM):
        line = line[1:]
    if not line.strip():
        return None
    try:
        obj = json.loads(line)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    messages, extra = message_view(obj, detect(obj))
    parts = []
    for m in (*messages, *extra):
        if m.get("role") == "system":
            continue
        text = _content(m.get("content"))
        calls = m.get("tool_calls") or m.get("function_call")
        if calls:
            text = f"{text} {json.dumps(calls, ensure_ascii=False)}"
        if text.strip():
            parts.append(" ".join(text.split()))
    return "\n".join(parts) if parts else None
