"""TL502: answers that stop mid-way.

An answer that ends inside a code block, or JSON that stops before its closing bracket, is reported wherever it
is (a warning). An answer that merely ends without closing punctuation (on a letter, a comma, a colon) is reported,
as information, only where at least 90% of the file's answers (and at least 10 of them) do end with it: in a file
of terse answers or `#### 42` endings, a missing period is the style, not a cut.
"""

from __future__ import annotations

from ..types import Finding, Severity
from .content_gated import GatedContentRule
from .content_lines import ContentFacts, Gated
from .file_rule import FileView

_SHARE = 0.9
_MIN_ANSWERS = 10


class TruncatedAnswers(GatedContentRule):
    code = "TL502"

    def __init__(self) -> None:
        super().__init__()
        self._closed = 0
        self._answers = 0

    def count(self, slot: int, facts: ContentFacts, sign: int) -> None:
        if facts.end is not None:
            self._answers += sign
            if facts.end == "closed":
                self._closed += sign

    def _share(self) -> float:
        return self._closed / self._answers if self._answers else 0.0

    def allowed(self, view: FileView) -> set[str]:
        kinds = {"fence", "json"}
        if self._answers >= _MIN_ANSWERS and self._share() >= _SHARE:
            kinds.add("open")
        return kinds

    def render(self, gated: Gated, view: FileView) -> Finding:
        f = gated.finding
        if gated.kind != "open":
            return f
        share = f"{self._share():.0%}".replace("100%", "99%")
        # Information, not a warning: on the shared corpus about one in four of these is a complete answer that
        # simply ends on a word (a name, a verdict), while the code-block and JSON cuts above are reliable.
        return Finding(f.code, f.message.replace("{share}", share), f.line, f.span, f.fix, f.related, Severity.INFO)
