"""The shape of a file-level rule: it owns the aggregate it needs and updates it as examples come and go.

Why: `Dataset.splice` re-analyses only the changed lines, so a rule that looks at the whole file (duplicates,
format mix, length outliers) must be told which examples left and which arrived, and keep its own state. The
engine hands each rule the removed and the added examples of one splice in one call, so a rule can do bulk work
(append then sort once) when a whole file arrives and cheap work (one insort) when one line is edited.
Findings are computed only when asked for, with line numbers resolved through `FileView` at that moment.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..types import Finding, LineResult, Span
from .platform import METHOD_WORDS

if TYPE_CHECKING:
    from ..engine import Engine
    from ..targets import ProviderRules, Target

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

    @property
    def method(self) -> str:
        return self.target.method or "sft"

    @property
    def method_words(self) -> str:
        return METHOD_WORDS[self.method]

    def whole(self, line: int) -> Span:
        return Span(0, len(self.texts[line]))


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
