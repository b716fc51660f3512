"""TL005, TL101, TL102: the file's dominant format, and the lines that do not follow it.

Why a file-level rule: whether a line is "the wrong format" depends on what the rest of the file is. The
dominant format is also the file's format in the summary and the pre-flight.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..formats import FORMAT_TITLES
from ..types import Finding
from .edits import conversion_fix
from .file_rule import Example, FileRule, FileView, discard


class FormatMix(FileRule):
    codes = ("TL005", "TL101", "TL102")

    def __init__(self) -> None:
        self._formats: dict[str, set[int]] = {}

    def add(self, examples: Sequence[Example]) -> None:
        formats = self._formats
        for slot, r in examples:
            formats.setdefault(r.format or "unknown", set()).add(slot)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, r in examples:
            discard(self._formats, r.format or "unknown", slot)

    def counts(self) -> dict[str, int]:
        return {f: len(s) for f, s in self._formats.items() if s}

    def dominant(self) -> str:
        known = [(len(s), f) for f, s in self._formats.items() if f != "unknown" and s]
        return max(known)[1] if known else ("unknown" if self._formats.get("unknown") else "chat")

    def findings(self, view: FileView) -> Iterator[Finding]:
        if view.array_file:
            yield Finding(
                "TL005",
                "This file is a JSON array, not JSONL (one object per line). Convert it, for example with "
                "`jq -c '.[]' in.json > out.jsonl`.",
                0,
                view.whole(0),
            )
        dominant = view.dominant_format
        for fmt, slots in self._formats.items():
            if fmt == dominant:
                continue
            for slot in slots:
                line = view.line_of(slot)
                if fmt == "unknown" and dominant in ("chat", "kto"):
                    yield Finding(
                        "TL102",
                        "No `messages` list: every example in this chat file needs one.",
                        line,
                        view.whole(line),
                    )
                elif fmt == "unknown":
                    yield Finding(
                        "TL101",
                        f"This line matches no known format; the file is {FORMAT_TITLES[dominant]}.",
                        line,
                        view.whole(line),
                    )
                else:
                    yield Finding(
                        "TL101",
                        f"This line is {FORMAT_TITLES[fmt]}, but the file is {FORMAT_TITLES[dominant]} "
                        f"({len(self._formats.get(dominant, ()))} of {view.examples} examples).",
                        line,
                        view.whole(line),
                        conversion_fix(view.texts[line]) if dominant == "chat" else None,
                    )
