"""TL303, TL304: too few examples to train, or to see an effect. Needs only the example count."""

from __future__ import annotations

from collections.abc import Iterator

from ..types import Finding
from .file_rule import FileRule, FileView


class ExampleCount(FileRule):
    codes = ("TL303", "TL304")

    def findings(self, view: FileView) -> Iterator[Finding]:
        n = view.examples
        if n < 10:
            yield Finding("TL303", f"{n} example{'s' if n != 1 else ''}: OpenAI requires at least 10.")
        elif n < 50:
            yield Finding("TL304", f"Only {n} examples: 50-100 are the usual minimum for a visible improvement.")
