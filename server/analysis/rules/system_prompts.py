"""TL305: one system prompt per file is the convention; lines that differ from the common one are flagged.

The file-level finding counts the prompts; line findings appear only when one prompt is used by at least half of
the examples (otherwise there is no convention to hold lines to). A missing prompt gets a safe fix that inserts
the common one.

A file whose prompts start with the same long instruction and then differ (the instruction followed by each
example's own story, document or user profile) has one system prompt plus per-example context, not many system
prompts: the prompts that share the instruction count as one family, named by the shared prefix. When every
prompt belongs to the family the file-level finding is information only; other prompts are still held to it.

Speed: an editor asks for the findings after every keystroke, and a file can have a different prompt (or none) on
40% of its lines, or a different prompt on every line (per-example context). So the state that decides the report
is kept up to date as examples come and go, not recomputed from every prompt on every edit: the most common
prompt, each family candidate's members, ends and shared instruction, and the total. With the editor's bound only
the first lines by position are walked (or, when few lines differ, only those lines are placed), and a line
finding built for an earlier report is handed out again as the same object while nothing it says has changed.
Before, a 100k-line file with 40% of its prompts missing took 2.3 s an edit (a fix built for each of 40,000 lines);
per-example context took 240 ms.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import groupby
from operator import itemgetter

from ..types import Finding, Severity
from .base import short
from .edits import system_prompt_fix
from .file_rule import Example, FileRule, FileView, Made, SlotGroups

_KEY = 40  # prompts are grouped into families by their first characters
_MIN_PREFIX = 40  # a shared instruction is at least this long
_MIN_VARIANTS = 3  # and is followed by at least this many different contexts
_CODE = "TL305"


def _common_prefix(a: str, b: str) -> str:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return a[:i]


def _instruction(lowest: str, highest: str, prompts: Iterable[str]) -> str:
    """The longest prefix all `prompts` share, cut back to a word boundary ("" when under _MIN_PREFIX), given their
    lowest and highest in sort order: those two's common prefix bounds every pair's."""
    prefix = _common_prefix(lowest, highest)
    if len(prefix) < _MIN_PREFIX:
        return ""
    if prefix[-1:].isalnum() and any(len(p) > len(prefix) and p[len(prefix)].isalnum() for p in prompts):
        cut = max(prefix.rfind(" "), prefix.rfind("\n"))  # it ends mid-word: back to the last whole word
        prefix = prefix[:cut] if cut > 0 else ""
    prefix = prefix.rstrip()
    return prefix if len(prefix) >= _MIN_PREFIX else ""


class _Start:
    """The distinct prompts that begin with the same `_KEY` characters (one family candidate) and how many
    examples use them. Their lowest and highest prompt, and so their shared instruction, are kept until a member
    joins or leaves: a new member moves an end by one comparison; only losing an end asks all members again."""

    __slots__ = ("_ends", "_prefix", "count", "members")

    def __init__(self) -> None:
        self.members: set[str] = set()
        self.count = 0  # examples using one of the members
        self._ends: tuple[str, str] | None = None
        self._prefix: str | None = None

    def join(self, prompt: str) -> None:
        self.members.add(prompt)
        if self._ends is not None:
            low, high = self._ends
            self._ends = (min(low, prompt), max(high, prompt))
        self._prefix = None

    def leave(self, prompt: str) -> None:
        self.members.discard(prompt)
        if self._ends is not None and prompt in self._ends:
            self._ends = None
        self._prefix = None

    def prefix(self) -> str:
        if self._prefix is None:
            if self._ends is None:
                self._ends = (min(self.members), max(self.members))
            self._prefix = _instruction(*self._ends, self.members)
        return self._prefix


class SystemPrompts(FileRule):
    codes = (_CODE,)

    def __init__(self) -> None:
        # prompt ("" = none) -> slots; a prompt of one example keeps its slot as an int, not a set (~200 bytes): a
        # file where every example has its own prompt (per-example context) has 100k of them
        self._systems = SlotGroups()
        self._prompt_of: dict[int, str] = {}  # slot -> its prompt
        # prompt[:_KEY] -> its prompts (those of at least _MIN_PREFIX): the prompt itself while it is the only one
        self._starts: dict[str, _Start | str] = {}
        self._candidates: set[str] = set()  # starts with at least _MIN_VARIANTS prompts
        self._top: tuple[int, str] | None = None  # (examples, prompt) of the most common prompt; None: ask again
        self._sizes: dict[int, int] = {}  # how many prompts are used by n examples
        self._made = Made()  # an editor's last line findings, by slot

    # --- state ---------------------------------------------------------------------------------------------------
    def _resize(self, before: int, after: int) -> None:
        sizes = self._sizes
        if before:
            left = sizes[before] - 1
            if left:
                sizes[before] = left
            else:
                del sizes[before]
        if after:
            sizes[after] = sizes.get(after, 0) + 1

    def add(self, examples: Sequence[Example]) -> None:
        """Runs of examples with the same prompt (a whole chunk, in a file with one prompt) join in one step each:
        the state after a run is what one example at a time leaves, at ~0.2 µs an example instead of ~1 (#14)."""
        prompted = [
            (r.system_prompt, slot) for slot, r in examples if r.has_system_slot and r.system_prompt is not None
        ]
        for prompt, run in groupby(prompted, key=itemgetter(0)):
            self._add_run(prompt, [slot for _, slot in run])

    def _add_run(self, prompt: str, slots: list[int]) -> None:
        systems = self._systems
        before = systems.count(prompt)
        after = systems.add_all(prompt, slots)
        if after == before:
            return  # all there already
        if len(prompt) >= _MIN_PREFIX:
            self._join(prompt, before, after - before)
        self._prompt_of.update(dict.fromkeys(slots, prompt))  # a slot already there was under this prompt already
        self._resize(before, after)
        top = self._top
        if top is not None and (after, prompt) > top:
            self._top = (after, prompt)

    def remove(self, examples: Sequence[Example]) -> None:
        systems, prompt_of = self._systems, self._prompt_of
        for slot, r in examples:
            prompt = r.system_prompt
            if not r.has_system_slot or prompt is None:
                continue
            before = systems.count(prompt)
            left = systems.discard(prompt, slot)
            if left == before:
                continue  # not there
            del prompt_of[slot]
            self._resize(before, left)
            if len(prompt) >= _MIN_PREFIX:
                self._leave(prompt, left)
            top = self._top
            if top is not None and top[1] == prompt:
                # Still the most common unless another prompt now has as many examples (or one fewer and sorts
                # after it): only then are all prompts asked again.
                if self._sizes.get(before, 0) or self._sizes.get(before - 1, 0) > (1 if before > 1 else 0):
                    self._top = None
                else:
                    self._top = (before - 1, prompt) if before > 1 else None

    def _join(self, prompt: str, before: int, more: int = 1) -> None:
        """`more` examples more use `prompt` (which `before` examples used). A start with one prompt is kept as that
        prompt, its examples counted by `_systems`: a file where every example has its own opening has 100k."""
        key = prompt[:_KEY]
        start = self._starts.get(key)
        if start is None:
            self._starts[key] = prompt
            return
        if isinstance(start, str):
            if start == prompt:
                return
            lone, start = start, _Start()
            start.join(lone)
            start.count = self._systems.count(lone)
            self._starts[key] = start
        if not before:
            start.join(prompt)
            if len(start.members) >= _MIN_VARIANTS:
                self._candidates.add(key)
        start.count += more

    def _leave(self, prompt: str, left: int) -> None:
        """One example fewer uses `prompt` (`left` still do)."""
        key = prompt[:_KEY]
        start = self._starts[key]
        if isinstance(start, str):
            if not left:
                del self._starts[key]
            return
        start.count -= 1
        if left:
            return
        start.leave(prompt)
        if len(start.members) < _MIN_VARIANTS:
            self._candidates.discard(key)
        if len(start.members) == 1:
            self._starts[key] = next(iter(start.members))

    def _common(self) -> tuple[int, str]:
        if self._top is None:
            self._top = max((len(s), p) for p, s in self._systems.items())
        return self._top

    def _family(self) -> tuple[str, set[str], int] | None:
        """(shared instruction, its prompts, their examples): the largest group of distinct prompts that start
        alike (ties: the group whose opening sorts first, so the answer never depends on the order of edits)."""
        best: tuple[int, str, _Start, str] | None = None
        for key in self._candidates:
            start = self._starts[key]
            if len(start.members) < _MIN_VARIANTS or len(start.members) * 2 < start.count:
                continue  # a few prompts each shared by many examples: different prompts, not per-example context
            prefix = start.prefix()
            if not prefix:
                continue
            if best is None or (start.count, best[1]) > (best[0], key):
                best = (start.count, key, start, prefix)
        return (best[3], best[2].members, best[0]) if best else None

    # --- findings ------------------------------------------------------------------------------------------------
    def findings(self, view: FileView) -> Iterator[Finding]:
        systems = self._systems
        if len(systems) < 2 or _CODE not in view.engine.enabled:
            return
        total = len(self._prompt_of)
        family = self._family()
        if family is not None:
            prefix, members, count = family
            instruction = f'"{short(prefix, 50)}" ({len(prefix):,} characters)'
            others = len(systems) - len(members)
            if not others:
                yield Finding(
                    _CODE,
                    f"All {total} system prompts start with the same instruction {instruction}, followed by "
                    "per-example context: one system prompt with context, not different prompts. Send the same "
                    "instruction, with context of the same kind, at inference time.",
                    severity=Severity.INFO,
                )
                return
            yield Finding(
                _CODE,
                f"{others + 1} different system prompts; {count} of {total} examples share the instruction "
                f"{instruction}, followed by per-example context.",
            )
            if count * 2 < total:
                return
            rule = (prefix, count, total)
            yield from self._lines(view, total - count, lambda p: p not in members, rule, self._family_message)
            return
        count, common = self._common()
        described = f'"{short(common, 50)}"' if common else "none"
        yield Finding(
            _CODE,
            f"{len(systems)} different system prompts; the most common ({described}) is used by {count} of {total} "
            "examples.",
        )
        if count * 2 < total:
            return
        yield from self._lines(view, total - count, lambda p: p != common, (common, count, total), self._message)

    def _lines(
        self,
        view: FileView,
        off: int,
        differs: Callable[[str], bool],
        rule: tuple,
        message: Callable[[str, tuple], tuple[str, bool]],
    ) -> Iterator[Finding]:
        """The line findings: every line whose prompt `differs`, or with the editor's bound the first of them by
        position (the rest counted)."""
        prompt_of = self._prompt_of
        differing = ((slot, prompt) for prompt, group in self._systems.items() if differs(prompt) for slot in group)
        if view.per_code is None:
            for slot, prompt in differing:
                yield self._finding(view, view.line_of(slot), prompt, rule, message)
            return
        lines = view.first_of(
            view.per_code - 1,  # the file-level finding is one of the code's first (`cap_per_code`)
            off,
            lambda slot: (prompt := prompt_of.get(slot)) is not None and differs(prompt),
            lambda: (slot for slot, _ in differing),
        )
        made, order = self._made, view.slots_in_order
        made.report()
        for line in lines:
            slot = order[line]
            prompt = prompt_of[slot]
            yield made.get(
                slot,
                (line, view.texts[line], prompt, rule),
                lambda: self._finding(view, line, prompt, rule, message),  # noqa: B023 (called at once)
            )
        view.bound(_CODE, off, len(lines))

    @staticmethod
    def _finding(
        view: FileView, line: int, prompt: str, rule: tuple, message: Callable[[str, tuple], tuple[str, bool]]
    ) -> Finding:
        text, fixable = message(prompt, rule)
        fix = system_prompt_fix(view.texts[line], rule[0]) if fixable else None
        return Finding(_CODE, text, line, view.whole(line), fix)

    @staticmethod
    def _message(prompt: str, rule: tuple) -> tuple[str, bool]:
        common, count, total = rule
        if not prompt:
            return f'No system prompt; {count} of {total} examples use "{short(common, 50)}".', True
        if common:
            return (
                f'System prompt "{short(prompt, 40)}" differs from the common one '
                f'("{short(common, 40)}", {count} of {total} examples).',
                False,
            )
        return f"Has a system prompt, but {count} of {total} examples have none.", False

    @staticmethod
    def _family_message(prompt: str, rule: tuple) -> tuple[str, bool]:
        prefix, count, total = rule
        instruction = f'"{short(prefix, 50)}" ({len(prefix):,} characters)'
        if not prompt:
            return f"No system prompt; {count} of {total} examples start theirs with {instruction}.", False
        return (
            f'System prompt "{short(prompt, 40)}" does not start with the instruction {count} of '
            f'{total} examples share ("{short(prefix, 40)}").',
            False,
        )
