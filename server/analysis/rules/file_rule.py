"""The shape of a file-level rule: it owns the aggregate it needs and updates it as examples come and go.

Why: `Dataset.splice` re-analyses only the changed lines, so a rule that looks at the whole file (duplicates,
format mix, length outliers) must be told which examples left and which arrived, and keep its own state. The
engine hands each rule the removed and the added examples of one splice in one call, so a rule can do bulk work
(append then sort once) when a whole file arrives and cheap work (one insort) when one line is edited.
Findings are computed only when asked for, with line numbers resolved through `FileView` at that moment.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, TypeVar

from ..types import Finding, LineResult, Span
from .platform import METHOD_WORDS

if TYPE_CHECKING:
    from ..engine import Engine
    from ..targets import ProviderRules, Target

# A file-level error is repeated on this many of its lines: enough to see it in the editor and the CLI, not one per
# line of a 100,000-line file.
MARKED_LINES = 20
# With the editor's bound, placing a line (`line_of`, a bisect) costs about as much as 20 steps of a walk over the
# lines in order: a rule whose findings of a code are on fewer than one line in this many places those lines;
# otherwise it walks the lines until it has the first `per_code` (within about this many times as many lines).
SPARSE = 20

T = TypeVar("T")
Example = tuple[int, LineResult]
"""(slot, result): a slot is a line's identity that survives edits above it; `FileView.line` maps it to a line."""


@dataclass(slots=True)
class FileView:
    """What a rule may read when it reports: the engine, the lines, and where each slot is now."""

    engine: Engine
    texts: Sequence[str]
    examples: int
    line_of: Callable[[int], int]
    array_file: bool
    dominant_format: str
    target: Target  # with its method resolved: the user's, or the one the dominant format trains with
    provider: ProviderRules
    # The editor's bound (`finding_cap.py`): a rule with many findings of a code may yield only the first `per_code`
    # by position (walking `slots_in_order`) and add how many it left out to `dropped`. None: report everything.
    per_code: int | None = None
    slots_in_order: Sequence[int] = ()
    dropped: Counter[str] | None = None
    results: Sequence[LineResult] = ()  # each line's result, in line order (with the editor's bound)

    @property
    def method(self) -> str:
        return self.target.method or "sft"

    @property
    def method_words(self) -> str:
        return METHOD_WORDS[self.method]

    def whole(self, line: int) -> Span:
        return Span(0, len(self.texts[line]))

    def first_lines(self, slots: Iterable[int], n: int = MARKED_LINES) -> list[int]:
        """The first `n` lines of `slots`, in order, without sorting them all (a 100,000-line file)."""
        return heapq.nsmallest(n, map(self.line_of, slots))

    def first_of(self, n: int, count: int, has: Callable[[int], bool], slots: Callable[[], Iterable[int]]) -> list[int]:
        """With the editor's bound: the first `n` lines, in order, of the `count` slots `has` holds (`slots()` lists
        them). Few are placed (`SPARSE`); otherwise the lines are walked until `n` are found, not to the end."""
        if n <= 0 or count <= 0:
            return []
        if self.sparse(count):
            return heapq.nsmallest(n, map(self.line_of, slots()))
        out: list[int] = []
        for line, slot in enumerate(self.slots_in_order):
            if has(slot):
                out.append(line)
                if len(out) == n:
                    break
        return out

    def sparse(self, count: int) -> bool:
        """Whether `count` findings are few enough to place their lines rather than walk the file (`SPARSE`)."""
        return count * SPARSE <= len(self.slots_in_order)

    def bound(self, code: str, total: int, shown: int) -> None:
        """Count the findings of `code` a rule left out under the editor's bound (`cap_per_code` notes them)."""
        if total > shown and self.dropped is not None:
            self.dropped[code] += total - shown


class Made(Generic[T]):
    """The line findings of an editor's last report (or what they are built from), by key (a slot, say), with what
    each said: a finding that says the same thing again is handed out as the same object, so the editor's cache of
    encoded diagnostics knows it by identity and an edit re-encodes only what changed. Only the last report's are
    kept."""

    __slots__ = ("_last", "_now")

    def __init__(self) -> None:
        self._last: dict[Hashable, tuple[object, T]] = {}
        self._now: dict[Hashable, tuple[object, T]] = {}

    def report(self) -> None:
        """A new report begins: what the last one handed out can be handed out again."""
        self._last, self._now = self._now, {}

    def get(self, key: Hashable, said: object, build: Callable[[], T]) -> T:
        """The value for `key` that says `said` (compared with ==): the last report's, or `build()`."""
        hit = self._last.get(key)
        if hit is None or hit[0] != said:
            hit = (said, build())
        self._now[key] = hit
        return hit[1]

    def pointing(
        self,
        view: FileView,
        code: str,
        total: int,
        picked: list[tuple[int, int, int]],
        build: Callable[[FileView, int, int, int], T],
    ) -> Iterator[T]:
        """A report's findings that each point at another line: `picked` holds (line, the line it points at, a
        count its message says) for the first of `total`, by position; the rest are counted for the bound."""
        self.report()
        order, texts = view.slots_in_order, view.texts
        for line, at, n in picked:
            yield self.get(order[line], (line, at, n, texts[line]), lambda: build(view, line, at, n))  # noqa: B023
        view.bound(code, total, len(picked))


class FileRule:
    """Base class: override what the rule needs. `add` and `remove` receive only example lines."""

    #: the codes this rule can emit (documentation and tests; the catalogue holds their texts)
    codes: tuple[str, ...] = ()

    def add(self, examples: Sequence[Example]) -> None:
        """These examples joined the file."""

    def remove(self, examples: Sequence[Example]) -> None:
        """These examples left the file (their results are the ones that were added)."""

    def findings(self, view: FileView) -> Iterator[Finding]:
        """The rule's findings for the file as it is now."""
        return iter(())


def discard(groups: dict, key: object, slot: int) -> None:
    """Remove `slot` from the set at `groups[key]`, dropping the key when its set empties."""
    members = groups.get(key)
    if members is not None:
        members.discard(slot)
        if not members:
            del groups[key]


class SlotGroups:
    """Slots grouped by a key, where most keys hold one slot (duplicate and conflict keys of a clean file).

    Why: a lone slot is stored as the int itself and a set only from the second member on. A set per key cost
    about 20 MB per duplicate rule on a 100k-line file, where nearly every key is unique.
    """

    __slots__ = ("_groups",)

    def __init__(self) -> None:
        self._groups: dict[object, int | set[int]] = {}

    def __len__(self) -> int:
        """How many keys have at least one slot."""
        return len(self._groups)

    def add(self, key: object, slot: int) -> int:
        """Put `slot` under `key`; the number of slots under it afterwards."""
        group = self._groups.get(key)
        if group is None:
            self._groups[key] = slot
            return 1
        if isinstance(group, int):
            if group == slot:
                return 1
            self._groups[key] = {group, slot}
            return 2
        group.add(slot)
        return len(group)

    def add_all(self, key: object, slots: list[int]) -> int:
        """`add` of each of `slots` under the one `key`, in one step; the number of slots under it afterwards."""
        if len(slots) == 1:
            return self.add(key, slots[0])
        group = self._groups.get(key)
        if isinstance(group, set):
            group.update(slots)
            return len(group)
        members = set(slots)
        if group is not None:
            members.add(group)
        self._groups[key] = members if len(members) > 1 else next(iter(members))
        return len(members)

    def discard(self, key: object, slot: int) -> int:
        """Take `slot` from under `key` (dropping the key when it empties); the number of slots left under it."""
        group = self._groups.get(key)
        if group is None:
            return 0
        if isinstance(group, int):
            if group != slot:
                return 1
            del self._groups[key]
            return 0
        group.discard(slot)
        if not group:
            del self._groups[key]
        return len(group)

    def slots(self, key: object) -> tuple[int, ...] | set[int]:
        group = self._groups.get(key)
        return () if group is None else (group,) if isinstance(group, int) else group

    def count(self, key: object) -> int:
        """How many slots are under `key`."""
        group = self._groups.get(key)
        return 0 if group is None else 1 if isinstance(group, int) else len(group)

    def items(self) -> Iterator[tuple[object, tuple[int, ...] | set[int]]]:
        """Each key with its slots."""
        for key, group in self._groups.items():
            yield key, (group,) if isinstance(group, int) else group

    def groups(self) -> Iterator[tuple[int, ...] | set[int]]:
        """Each key's slots."""
        for group in self._groups.values():
            yield (group,) if isinstance(group, int) else group
