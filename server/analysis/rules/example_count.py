"""TL303, TL304, TL309: too few examples for the target to take, or to see an effect; more than it takes.

The minimum and maximum are the target provider's (providers.toml): OpenAI wants 10, Together 1, Fireworks 3 to
3,000,000. A provider that documents no bound gets no finding for it; a file without a single example is refused
by every trainer, so it is always an error.
"""

from __future__ import annotations

from collections.abc import Iterator

from ..types import Finding
from .file_rule import FileRule, FileView

USUAL_MINIMUM = 50  # fewer rarely shows an effect, whoever trains (OpenAI's guide recommends 50 to 100)


class ExampleCount(FileRule):
    codes = ("TL303", "TL304", "TL309")

    def findings(self, view: FileView) -> Iterator[Finding]:
        n = view.examples
        p = view.provider
        least, most = p.min_examples.value, p.max_examples.value
        if n == 0:
            yield Finding("TL303", "0 examples: there is nothing to train on.")
        elif least is not None and n < least:
            yield Finding("TL303", f"{n} example{'s' if n != 1 else ''}: {p.title} requires at least {least}.")
        elif n < USUAL_MINIMUM:
            yield Finding("TL304", f"Only {n} examples: 50-100 are the usual minimum for a visible improvement.")
        if most is not None and n > most:
            yield Finding("TL309", f"{n:,} examples: {p.title} accepts at most {most:,} per training file.")
