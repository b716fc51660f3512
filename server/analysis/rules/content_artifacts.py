"""TL506: leftovers of how the data was generated.

Calculator annotations (`<<48/2=24>>`, GSM8K's tool markup) and "As an AI language model" are reported wherever
they appear. HTML tags in an answer whose prompt is not about markup, and role labels (`User:`, `Assistant:`) at
the start of a line inside an answer whose prompt asks for no dialogue, are reported when they repeat: in at
least 3 examples, so one answer that quotes a tag or writes a script stays quiet.
"""

from __future__ import annotations

from .content_gated import GatedContentRule
from .file_rule import FileView

_ALWAYS = frozenset({"calculator", "ai-disclaimer"})
_REPEATED = 3


class DatasetArtifacts(GatedContentRule):
    code = "TL506"

    def allowed(self, view: FileView) -> set[str]:
        return set(_ALWAYS) | {kind for kind, slots in self.kinds.items() if len(slots) >= _REPEATED}
