"""TL308: the same conversation up to the last user turn, answered differently in different examples."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..types import Finding, Related
from .file_rule import Example, FileRule, FileView, SlotGroups


class ConflictingAnswers(FileRule):
    codes = ("TL308",)

    def __init__(self) -> None:
        # prompt key -> its one (answer key, slot) while it has one example (nearly every key of a clean file: a
        # pair is far smaller than a dict of sets), then answer key -> slots
        self._prompts: dict[bytes, tuple[bytes, int] | SlotGroups] = {}
        self._conflicts: set[bytes] = set()  # prompt keys with two or more answers

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
            if not entry:
                del self._prompts[prompt]
            if len(entry) < 2:
                self._conflicts.discard(prompt)

    def findings(self, view: FileView) -> Iterator[Finding]:
        for key in self._conflicts:
            groups = sorted(
                (sorted(view.line_of(s) for s in slots) for slots in self._answers(key)), key=lambda g: g[0]
            )
            first = groups[0][0]
            for group in groups[1:]:
                for line in group:
                    yield Finding(
                        "TL308",
                        f"Same conversation as line {first + 1} up to the last user turn, but a different answer "
                        f"({len(groups)} different answers in all).",
                        line,
                        view.whole(line),
                        related=(Related(first, "the same conversation with another answer"),),
                    )

    def _answers(self, prompt: bytes) -> Iterator[tuple[int, ...] | set[int]]:
        entry = self._prompts[prompt]
        return iter([(entry[1],)]) if isinstance(entry, tuple) else entry.groups()
