"""TL006: a file of pretty-printed JSON objects, one record over many lines, instead of one object per line.

Why a file-level rule: every line of such a file is a fragment (`{`, `  "messages": [`, `}`), so the per-line
rules bury the one real problem under thousands of TL001s. This rule recognises the layout from the first
record, says once what the file is and how to convert it, and caps the per-line errors (`cap`) so the editor and
the terminal show a handful of examples of the damage rather than all of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from ..lines import BOM
from ..types import Finding
from .file_rule import Example, FileRule, FileView

SHOWN = 10  # per-line parse and format errors kept in such a file
_WINDOW = 1 << 20  # characters read to find the end of the first record
_CAPPED = frozenset({"TL001", "TL002", "TL003", "TL101", "TL102", "TL123", "TL124"})
_FILE_CONSEQUENCES = frozenset({"TL303", "TL304", "TL123", "TL124"})


def first_record(texts: Sequence[str]) -> tuple[int, int] | None:
    """(first line, last line) of a JSON object spread over several lines at the start of the file, or None."""
    start = next((i for i, t in enumerate(texts[:50]) if t.strip()), None)
    if start is None:
        return None
    head = texts[start].lstrip(BOM + " \t")
    if not head.startswith("{"):
        return None
    try:
        json.loads(head)
        return None  # a whole object on the line: JSONL
    except (ValueError, RecursionError):
        pass
    chunk: list[str] = []
    size = 0
    for i in range(start, len(texts)):
        chunk.append(texts[i])
        size += len(texts[i]) + 1
        if size > _WINDOW:
            break
    joined = "\n".join(chunk).lstrip(BOM + " \t")
    try:
        value, end = json.JSONDecoder().raw_decode(joined)
    except (ValueError, RecursionError):
        return None
    if not isinstance(value, dict):
        return None
    lines = joined.count("\n", 0, end)
    return (start, start + lines) if lines else None


class MultiLineRecords(FileRule):
    codes = ("TL006",)

    def __init__(self) -> None:
        self.active = False  # the last `findings` call saw such a file: `cap` trims the per-line errors

    def add(self, examples: Sequence[Example]) -> None:
        pass

    def remove(self, examples: Sequence[Example]) -> None:
        pass

    def findings(self, view: FileView) -> Iterator[Finding]:
        record = None if view.array_file else first_record(view.texts)
        self.active = record is not None
        if record is None:
            return
        first, last = record
        yield Finding(
            "TL006",
            f"This file holds pretty-printed JSON records (the first one spans lines {first + 1}-{last + 1}), not "
            "one object per line, so every line is a fragment. Convert it, for example with "
            f"`jq -c . in.json > out.jsonl`. Only the first {SHOWN} per-line errors are shown.",
            first,
            view.whole(first),
        )

    def cap(self, found: list[Finding]) -> list[Finding]:
        """Keep the first SHOWN line findings of the parse and format codes (findings sorted by position), and
        drop the file-level findings the layout causes."""
        if not self.active or not any(f.code == "TL006" for f in found):
            return found  # not such a file, or TL006 is turned off (then nothing explains the cap)
        out, shown = [], 0
        for f in found:
            if f.line is None and f.code in _FILE_CONSEQUENCES:
                continue  # "0 examples", "no known format": what the layout causes, said by TL006 already
            if f.line is not None and f.code in _CAPPED:
                shown += 1
                if shown > SHOWN:
                    continue
            out.append(f)
        return out
