"""TL308: the same conversation up to the last user turn, answered differently in different examples."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence

from ..types import Finding, Related
from .file_rule import Example, FileRule, FileView, Made, SlotGroups

_CODE = "TL308"


class ConflictingAnswers(FileRule):
    codes = (_CODE,)

    def __init__(self) -> None:
        # prompt key -> its one (answer key, slot) while it has one example (nearly every key of a clean file: a
        # pair is far smaller than a dict of sets), then answer key -> slots
        self._prompts: dict[bytes, tuple[bytes, int] | SlotGroups] = {}
        self._conflicts: set[bytes] = set()  # prompt keys with two or more answers
        # An editor's bound needs how many findings there are: each conflict's count (its examples but those with
        # the first line's answer) is kept and counted again only when the conflict gains or loses an example
        # (moving lines keeps their order, so which answer comes first cannot change otherwise).
        self._counts: dict[bytes, int] = {}
        self._counted = 0
        self._touched: set[bytes] = set()
        self._made = Made()  # an editor's last findings, by slot

    def add(self, examples: Sequence[Example]) -> None:
        prompts, conflicts = self._prompts, self._conflicts
        for slot, r in examples:
            prompt, answer = r.prompt_key, r.answer_key
            if prompt is None or answer is None:
                continue
            entry = prompts.get(prompt)
            if entry is None:
                prompts[prompt] = (answer, slot)
                continue
            if isinstance(entry, tuple):
                if entry == (answer, slot):
                    continue
                first, entry = entry, SlotGroups()
                entry.add(*first)
                prompts[prompt] = entry
            entry.add(answer, slot)
            if len(entry) == 2:
                conflicts.add(prompt)
            if prompt in conflicts:
                self._touched.add(prompt)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, r in examples:
            prompt, answer = r.prompt_key, r.answer_key
            if prompt is None or answer is None:
                continue
            entry = self._prompts.get(prompt)
            if entry is None:
                continue
            if isinstance(entry, tuple):
                if entry == (answer, slot):
                    del self._prompts[prompt]
                continue
            entry.discard(answer, slot)
            if prompt in self._conflicts:
                self._touched.add(prompt)
            if not entry:
                del self._prompts[prompt]
            if len(entry) < 2:
                self._conflicts.discard(prompt)

    def findings(self, view: FileView) -> Iterator[Finding]:
        if not self._conflicts or _CODE not in view.engine.enabled:
            return
        if view.per_code is not None:
            yield from self._first(view, view.per_code)
            return
        for key in self._conflicts:
            groups = self._lines(view, key)
            first = groups[0][0]
            for group in groups[1:]:
                for line in group:
                    yield _finding(view, line, first, len(groups))

    def _lines(self, view: FileView, key: bytes) -> list[list[int]]:
        """The lines of each answer to the conversation `key`, the answer met first first."""
        return sorted((sorted(map(view.line_of, slots)) for slots in self._answers(key)), key=lambda g: g[0])

    def _count(self, view: FileView) -> int:
        """How many findings there are (the conflicts touched since the last report counted again)."""
        counts = self._counts
        for key in self._touched:
            self._counted -= counts.pop(key, 0)
            if key in self._conflicts:
                groups = self._lines(view, key)
                counts[key] = sum(map(len, groups[1:]))
                self._counted += counts[key]
        self._touched.clear()
        return self._counted

    def _first(self, view: FileView, wanted: int) -> Iterator[Finding]:
        """The editor's report: the first `wanted` findings by position, the rest counted. Many: the lines are
        walked in order, a conversation's first line met gives its first answer, until `wanted` are found (a file
        with a conflict on every fourth line took 830 ms an edit to place them all). Few: each conflict is placed."""
        total = self._count(view)
        picked: list[tuple[int, int, int]] = []  # (line, the conversation's first line, answers)
        conflicts = self._conflicts
        if view.sparse(total):
            for key in conflicts:
                groups = self._lines(view, key)
                picked += [(line, groups[0][0], len(groups)) for group in groups[1:] for line in group]
            picked = heapq.nsmallest(wanted, picked)
        elif wanted > 0:
            first: dict[bytes, tuple[int, bytes]] = {}
            for line, r in enumerate(view.results):
                key, answer = r.prompt_key, r.answer_key
                if key is None or key not in conflicts or answer is None or r.kind != "example":
                    continue
                at = first.setdefault(key, (line, answer))
                if at[1] != answer:  # a conflict's entry is its answers' SlotGroups: its length counts them
                    picked.append((line, at[0], len(self._prompts[key])))
                    if len(picked) == wanted:
                        break
        yield from self._made.pointing(view, _CODE, total, picked, _finding)

    def _answers(self, prompt: bytes) -> Iterator[tuple[int, ...] | set[int]]:
        entry = self._prompts[prompt]
        return iter([(entry[1],)]) if isinstance(entry, tuple) else entry.groups()


def _finding(view: FileView, line: int, first: int, answers: int) -> Finding:
    return Finding(
        _CODE,
        f"Same conversation as line {first + 1} up to the last user turn, but a different answer ({answers} different "
        "answers in all).",
        line,
        view.whole(line),
        related=(Related(first, "the same conversation with another answer"),),
    )
