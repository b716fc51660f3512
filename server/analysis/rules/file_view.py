"""What a file-level rule may read when it reports (`FileView`), in a module the compiled build leaves as Python.

Why apart from `file_rule`: the view names the engine and the target only for the type checker (importing them
here would be a cycle), and a compiled dataclass looks its field types up when the module loads.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..types import LineResult, Span
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
