"""TL301: examples that are the same as an earlier one, by the key `linecheck` computes for each example."""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence

from ..types import Finding, Fix, Related
from .file_rule import Example, FileRule, FileView, SlotGroups


class ExactDuplicates(FileRule):
    codes = ("TL301",)

    def __init__(self) -> None:
        self._groups = SlotGroups()
        self._repeated: set[bytes] = set()  # keys with two or more slots: findings() visits only these
        # key -> (lines, their texts, findings) as last reported: see `findings`
        self._made: dict[bytes, tuple[list[int], list[str], list[Finding]]] = {}

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
        """A group whose copies are on the same lines, with the same texts, as at the last report gets the same
        finding objects again: an editor reports after every edit, and most edits touch no duplicate (the
        editor's cache of encoded diagnostics then knows them by identity)."""
        made, texts = self._made, view.texts
        keep = view.per_code is not None  # an editor's report (`tuneline check` asks once: nothing to keep)
        if len(made) > 2 * len(self._repeated) + 64:  # groups that are gone
            for key in [k for k in list(made) if k not in self._repeated]:
                made.pop(key, None)
        for key in self._repeated:
            lines = sorted(view.line_of(s) for s in self._groups.slots(key))
            line_texts = [texts[line] for line in lines] if keep else []
            last = made.get(key) if keep else None
            if last is not None and last[0] == lines and all(map(operator.is_, last[1], line_texts)):
                yield from last[2]
                continue
            first = lines[0]
            more = f" (and {len(lines) - 2} more copies)" if len(lines) > 2 else ""
            found = [
                Finding(
                    "TL301",
                    f"Duplicate of line {first + 1}{more}.",
                    line,
                    view.whole(line),
                    _DELETE,
                    (Related(first, "first copy"),),
                )
                for line in lines[1:]
            ]
            if keep:
                made[key] = (lines, line_texts, found)
            yield from found


_DELETE = Fix("Delete duplicate line", delete_line=True)
