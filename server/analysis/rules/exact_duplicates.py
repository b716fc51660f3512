"""TL301: examples that are the same as an earlier one, by the key `linecheck` computes for each example."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..types import Finding, Fix, Related
from .file_rule import Example, FileRule, FileView, SlotGroups


class ExactDuplicates(FileRule):
    codes = ("TL301",)

    def __init__(self) -> None:
        self._groups = SlotGroups()
        self._repeated: set[bytes] = set()  # keys with two or more slots: findings() visits only these

    def add(self, examples: Sequence[Example]) -> None:
        groups, repeated = self._groups, self._repeated
        for slot, r in examples:
            key = r.dup_key
            if key is not None and groups.add(key, slot) == 2:
                repeated.add(key)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, r in examples:
            key = r.dup_key
            if key is not None and self._groups.discard(key, slot) < 2:
                self._repeated.discard(key)

    def findings(self, view: FileView) -> Iterator[Finding]:
        for key in self._repeated:
            lines = sorted(view.line_of(s) for s in self._groups.slots(key))
            first = lines[0]
            more = f" (and {len(lines) - 2} more copies)" if len(lines) > 2 else ""
            for line in lines[1:]:
                yield Finding(
                    "TL301",
                    f"Duplicate of line {first + 1}{more}.",
                    line,
                    view.whole(line),
                    Fix("Delete duplicate line", delete_line=True),
                    (Related(first, "first copy"),),
                )
