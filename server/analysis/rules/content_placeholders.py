"""TL501: template slots and unfinished text left in the data.

`{{name}}`, `[INSERT …]`, `<PLACEHOLDER>` and, in answers, `TODO` / `TBD` / `FIXME` / lorem ipsum are reported
wherever they stand outside code. A single-brace `{name}` is a placeholder only in a file that otherwise has no
braces: where examples carry code or JSON, `{name}` is more likely a format string than a forgotten slot, so
those are reported only when at most 2% of the examples use braces another way.
"""

from __future__ import annotations

from .content_gated import GatedContentRule
from .content_lines import ContentFacts
from .file_rule import FileView

_CODE_SHARE = 0.02


class UnfilledPlaceholders(GatedContentRule):
    code = "TL501"

    def __init__(self) -> None:
        super().__init__()
        self._code_braces = 0  # examples that use braces as code or JSON

    def count(self, slot: int, facts: ContentFacts, sign: int) -> None:
        if facts.code_braces:
            self._code_braces += sign

    def allowed(self, view: FileView) -> set[str]:
        kinds = {"slot"}
        if self._code_braces <= _CODE_SHARE * view.examples:
            kinds.add("brace")
        return kinds
