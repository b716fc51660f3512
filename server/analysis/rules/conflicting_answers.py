"""TL308: the same conversation up to the last user turn, answered differently in different examples."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..types import Finding, Related
from .file_rule import Example, FileRule, FileView, discard


class ConflictingAnswers(FileRule):
    codes = ("TL308",)

    def __init__(self) -> None:
        self._prompts: dict[bytes, dict[bytes, set[int]]] = {}  # prompt key -> answer key -> slots
        self._conflicts: set[bytes] = set()  # prompt keys with two or more answers

    def add(self, examples: Sequence[Example]) -> None:
        prompts, conflicts = self._prompts, self._conflicts
        for slot, r in examples:
            if r.prompt_key is not None and r.answer_key is not None:
                answers = prompts.setdefault(r.prompt_key, {})
                answers.setdefault(r.answer_key, set()).add(slot)
                if len(answers) == 2:
                    conflicts.add(r.prompt_key)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, r in examples:
            if r.prompt_key is not None and r.answer_key is not None:
                answers = self._prompts.get(r.prompt_key, {})
                discard(answers, r.answer_key, slot)
                if not answers:
                    self._prompts.pop(r.prompt_key, None)
                if len(answers) < 2:
                    self._conflicts.discard(r.prompt_key)

    def findings(self, view: FileView) -> Iterator[Finding]:
        for key in self._conflicts:
            groups = sorted(
                (sorted(view.line_of(s) for s in slots) for slots in self._prompts[key].values()), key=lambda g: g[0]
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
