"""TL129: whole-example weights on some examples and not on others, where the target weights whole examples.

Why a file-level rule: Fireworks scales each example's loss by a `weight` beside `messages`, and refuses a dataset
that gives it to some examples only ("the `weight` field must be present in all samples"); each line is fine on
its own, only the file can be wrong.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..types import Finding
from .file_rule import Example, FileRule, FileView


class ExampleWeights(FileRule):
    codes = ("TL129",)

    def __init__(self, accepted: bool) -> None:
        self.accepted = accepted  # the target weights whole examples (providers.toml `example_weight`)
        self._weighted: set[int] = set()
        self._unweighted: set[int] = set()

    def add(self, examples: Sequence[Example]) -> None:
        if not self.accepted:
            return
        for slot, r in examples:
            if r.format == "chat":
                (self._weighted if r.example_weight else self._unweighted).add(slot)

    def remove(self, examples: Sequence[Example]) -> None:
        if not self.accepted:
            return
        for slot, _ in examples:
            self._weighted.discard(slot)
            self._unweighted.discard(slot)

    def findings(self, view: FileView) -> Iterator[Finding]:
        weighted, unweighted = len(self._weighted), len(self._unweighted)
        if not weighted or not unweighted:
            return
        title = view.provider.title
        have = "has" if weighted == 1 else "have"
        others = "1 other example has" if weighted == 1 else f"{weighted:,} other examples have"
        yield Finding(
            "TL129",
            f"{weighted:,} of {weighted + unweighted:,} examples {have} a `weight` beside `messages`: {title} takes "
            "it on every example or on none. Add one to the others (1.0 is the default) or remove them all.",
        )
        for line in view.first_lines(self._unweighted):
            yield Finding(
                "TL129",
                f"No `weight` here, while {others} one: {title} takes it on all or none.",
                line,
                view.whole(line),
            )
