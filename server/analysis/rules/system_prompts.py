"""TL305: one system prompt per file is the convention; lines that differ from the common one are flagged.

The file-level finding counts the prompts; line findings appear only when one prompt is used by at least half of
the examples (otherwise there is no convention to hold lines to). A missing prompt gets a safe fix that inserts
the common one.

A file whose prompts start with the same long instruction and then differ (the instruction followed by each
example's own story, document or user profile) has one system prompt plus per-example context, not many system
prompts: the prompts that share the instruction count as one family, named by the shared prefix. When every
prompt belongs to the family the file-level finding is information only; other prompts are still held to it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..types import Finding, Severity
from .base import short
from .edits import system_prompt_fix
from .file_rule import Example, FileRule, FileView, discard

_KEY = 40  # prompts are grouped into families by their first characters
_MIN_PREFIX = 40  # a shared instruction is at least this long
_MIN_VARIANTS = 3  # and is followed by at least this many different contexts


def _common_prefix(a: str, b: str) -> str:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return a[:i]


def shared_instruction(prompts: Sequence[str]) -> str:
    """The longest prefix all `prompts` share, cut back to a word boundary ("" when under _MIN_PREFIX)."""
    if len(prompts) < 2:
        return ""
    prefix = _common_prefix(min(prompts), max(prompts))  # the sorted extremes bound every pair's common prefix
    if len(prefix) < _MIN_PREFIX:
        return ""
    if prefix[-1:].isalnum() and any(len(p) > len(prefix) and p[len(prefix)].isalnum() for p in prompts):
        cut = max(prefix.rfind(" "), prefix.rfind("\n"))  # it ends mid-word: back to the last whole word
        prefix = prefix[:cut] if cut > 0 else ""
    prefix = prefix.rstrip()
    return prefix if len(prefix) >= _MIN_PREFIX else ""


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

    def _family(self) -> tuple[str, set[str]] | None:
        """(shared instruction, its prompts): the largest group of distinct prompts that start alike."""
        by_start: dict[str, list[str]] = {}
        for prompt, slots in self._systems.items():
            if prompt and slots and len(prompt) >= _MIN_PREFIX:
                by_start.setdefault(prompt[:_KEY], []).append(prompt)
        best: tuple[int, str, set[str]] | None = None
        for members in by_start.values():
            if len(members) < _MIN_VARIANTS:
                continue
            prefix = shared_instruction(members)
            if not prefix:
                continue
            count = sum(len(self._systems[p]) for p in members)
            if len(members) * 2 < count:
                continue  # a few prompts each shared by many examples: different prompts, not per-example context
            if best is None or count > best[0]:
                best = (count, prefix, set(members))
        return (best[1], best[2]) if best else None

    def findings(self, view: FileView) -> Iterator[Finding]:
        live = {p: s for p, s in self._systems.items() if s}
        if len(live) < 2:
            return
        family = self._family()
        if family is not None:
            yield from self._with_family(view, live, *family)
            return
        groups = sorted(((len(s), p) for p, s in live.items()), reverse=True)
        total = sum(c for c, _ in groups)
        count, common = groups[0]
        described = f'"{short(common, 50)}"' if common else "none"
        yield Finding(
            "TL305",
            f"{len(groups)} different system prompts; the most common ({described}) is used by {count} of {total} examples.",
        )
        if count * 2 < total:
            return
        for prompt, slots in live.items():
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

    def _with_family(
        self, view: FileView, live: dict[str, set[int]], prefix: str, members: set[str]
    ) -> Iterator[Finding]:
        """Findings when most prompts are one instruction followed by per-example context."""
        total = sum(len(s) for s in live.values())
        count = sum(len(live[p]) for p in members)
        others = {p: s for p, s in live.items() if p not in members}
        instruction = f'"{short(prefix, 50)}" ({len(prefix):,} characters)'
        if not others:
            yield Finding(
                "TL305",
                f"All {total} system prompts start with the same instruction {instruction}, followed by "
                "per-example context: one system prompt with context, not different prompts. Send the same "
                "instruction, with context of the same kind, at inference time.",
                severity=Severity.INFO,
            )
            return
        yield Finding(
            "TL305",
            f"{len(others) + 1} different system prompts; {count} of {total} examples share the instruction "
            f"{instruction}, followed by per-example context.",
        )
        if count * 2 < total:
            return
        for prompt, slots in others.items():
            for slot in slots:
                line = view.line_of(slot)
                if not prompt:
                    message = f"No system prompt; {count} of {total} examples start theirs with {instruction}."
                else:
                    message = (
                        f'System prompt "{short(prompt, 40)}" does not start with the instruction {count} of '
                        f'{total} examples share ("{short(prefix, 40)}").'
                    )
                yield Finding("TL305", message, line, view.whole(line))
