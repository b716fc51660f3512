"""TL301: examples that are the same as an earlier one, by the key `linecheck` computes for each example."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from ..types import Finding, Fix, Related
from .file_rule import Example, FileRule, FileView, Made, SlotGroups

_CODE = "TL301"


class ExactDuplicates(FileRule):
    codes = (_CODE,)

    def __init__(self) -> None:
        self._groups = SlotGroups()
        self._repeated: set[bytes] = set()  # keys with two or more slots: findings() visits only these
        self._copies = 0  # findings: the slots past the first of each repeated key
        self._made = Made()  # an editor's last findings, by slot

    def add(self, examples: Sequence[Example]) -> None:
        groups, repeated = self._groups, self._repeated
        for slot, r in examples:
            key = r.dup_key
            if key is not None:
                n = groups.add(key, slot)
                if n >= 2:
                    self._copies += 1
                    if n == 2:
                        repeated.add(key)

    def remove(self, examples: Sequence[Example]) -> None:
        groups, repeated = self._groups, self._repeated
        for slot, r in examples:
            key = r.dup_key
            if key is None:
                continue
            left = groups.discard(key, slot)
            if key in repeated:
                self._copies -= 1
                if left < 2:
                    repeated.discard(key)

    def findings(self, view: FileView) -> Iterator[Finding]:
        if not self._repeated or _CODE not in view.engine.enabled:
            return
        if view.per_code is not None:
            yield from self._first(view, view.per_code)
            return
        for key in self._repeated:
            lines = sorted(view.line_of(s) for s in self._groups.slots(key))
            for line in lines[1:]:
                yield _finding(view, line, lines[0], len(lines))

    def _first(self, view: FileView, wanted: int) -> Iterator[Finding]:
        """The editor's report: the first `wanted` copies by position, the rest counted. Many copies: the lines are
        walked in order, each key's first line met is its first copy, until `wanted` are found (a file with a copy
        on every third line took 240 ms an edit to place them all). Few: each group's lines are placed."""
        picked: list[tuple[int, int, int]] = []  # (line, its first copy's line, copies)
        groups, repeated = self._groups, self._repeated
        if view.sparse(self._copies):
            for key in repeated:
                lines = sorted(map(view.line_of, groups.slots(key)))
                picked += [(line, lines[0], len(lines)) for line in lines[1:]]
            picked = heapq.nsmallest(wanted, picked)
        elif wanted > 0:
            first: dict[bytes, int] = {}
            for line, r in enumerate(view.results):
                key = r.dup_key
                if key is None or key not in repeated or r.kind != "example":
                    continue
                at = first.setdefault(key, line)
                if at != line:
                    picked.append((line, at, groups.count(key)))
                    if len(picked) == wanted:
                        break
        yield from self._made.pointing(view, _CODE, self._copies, picked, _finding)


def _finding(view: FileView, line: int, first: int, copies: int) -> Finding:
    more = f" (and {copies - 2} more copies)" if copies > 2 else ""
    return Finding(
        _CODE, f"Duplicate of line {first + 1}{more}.", line, view.whole(line), _DELETE, (Related(first, "first copy"),)
    )


_DELETE = Fix("Delete duplicate line", delete_line=True)
