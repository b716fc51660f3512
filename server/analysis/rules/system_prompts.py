"""TL305: one system prompt per file is the convention; lines that differ from the common one are flagged.

The file-level finding counts the prompts; line findings appear only when one prompt is used by at least half of
the examples (otherwise there is no convention to hold lines to). A missing prompt gets a safe fix that inserts
the common one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..types import Finding
from .base import short
from .edits import system_prompt_fix
from .file_rule import Example, FileRule, FileView, discard


class SystemPrompts(FileRule):
    codes = ("TL305",)

    def __init__(self) -> None:
        self._systems: dict[str, set[int]] = {}  # prompt ("" = none) -> slots

    def add(self, examples: Sequence[Example]) -> None:
        systems = self._systems
        for slot, r in examples:
            if r.has_system_slot and r.system_prompt is not None:
                systems.setdefault(r.system_prompt, set()).add(slot)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, r in examples:
            if r.has_system_slot and r.system_prompt is not None:
                discard(self._systems, r.system_prompt, slot)

    def findings(self, view: FileView) -> Iterator[Finding]:
        groups = [(len(s), p) for p, s in self._systems.items() if s]
        if len(groups) < 2:
            return
        groups.sort(reverse=True)
        total = sum(c for c, _ in groups)
        count, common = groups[0]
        described = f'"{short(common, 50)}"' if common else "none"
        yield Finding(
            "TL305",
            f"{len(groups)} different system prompts; the most common ({described}) is used by {count} of {total} examples.",
        )
        if count * 2 < total:
            return
        for prompt, slots in self._systems.items():
            if prompt == common:
                continue
            for slot in slots:
                line = view.line_of(slot)
                if not prompt:
                    message = f'No system prompt; {count} of {total} examples use "{short(common, 50)}".'
                    fix = system_prompt_fix(view.texts[line], common)
                    yield Finding("TL305", message, line, view.whole(line), fix)
                elif common:
                    message = (
                        f'System prompt "{short(prompt, 40)}" differs from the common one '
                        f'("{short(common, 40)}", {count} of {total} examples).'
                    )
                    yield Finding("TL305", message, line, view.whole(line))
                else:
                    message = f"Has a system prompt, but {count} of {total} examples have none."
                    yield Finding("TL305", message, line, view.whole(line))
