"""The shared shape of the content rules whose line findings depend on the file (TL501, TL502, TL506).

Why: the line analysis (`content_lines`) finds candidates and prebuilds their findings, spans included, but only
the whole file can say whether a candidate is a problem: a `{name}` slot in a file without code, a missing final
period where nearly every answer has one, an HTML tag that repeats. A rule built on this class keeps the
candidates of its code per example and asks its subclass which kinds hold for the file as it is now.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence

from ..finding_cap import column
from ..types import Finding
from .content_lines import ContentFacts, Gated
from .file_rule import Example, FileRule, FileView, discard


class GatedContentRule(FileRule):
    """Holds one code's candidates by slot and by kind; `allowed` decides which kinds are reported."""

    code = ""

    def __init__(self) -> None:
        self._hits: dict[int, tuple[Gated, ...]] = {}
        self.kinds: dict[str, set[int]] = {}  # kind -> slots with a candidate of that kind

    @property
    def codes(self) -> tuple[str, ...]:  # type: ignore[override]
        return (self.code,)

    def count(self, slot: int, facts: ContentFacts, sign: int) -> None:
        """Subclasses keep file-wide counts here (called for every example with facts, as it comes and goes)."""

    def allowed(self, view: FileView) -> set[str]:
        raise NotImplementedError

    def render(self, gated: Gated, view: FileView) -> Finding:
        return gated.finding

    def add(self, examples: Sequence[Example]) -> None:
        code, hits, kinds = self.code, self._hits, self.kinds
        count = self.count if type(self).count is not GatedContentRule.count else None  # most rules keep no counts
        for slot, r in examples:
            facts = r.content
            if not isinstance(facts, ContentFacts):
                continue
            if count is not None:
                count(slot, facts, 1)
            if not facts.gated:  # most lines: no candidate of any code
                continue
            mine = tuple(g for g in facts.gated if g.code == code)
            if mine:
                hits[slot] = mine
                for g in mine:
                    kinds.setdefault(g.kind, set()).add(slot)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, r in examples:
            facts = r.content
            if not isinstance(facts, ContentFacts):
                continue
            self.count(slot, facts, -1)
            mine = self._hits.pop(slot, ())
            for g in mine:
                discard(self.kinds, g.kind, slot)

    def findings(self, view: FileView) -> Iterator[Finding]:
        if not self._hits or self.code not in view.engine.enabled:
            return  # a turned-off code: nothing to list, nor to count past the editor's bound
        allowed = self.allowed(view)
        if not allowed:
            return
        if view.per_code is not None and view.dropped is not None and len(self._hits) > view.per_code:
            yield from self._first(view, allowed, view.per_code, view.dropped)
            return
        for slot, mine in self._hits.items():
            line = None
            for g in mine:
                if g.kind in allowed:
                    line = view.line_of(slot) if line is None else line
                    yield self.render(g, view).at_line(line)

    def _first(self, view: FileView, allowed: set[str], per_code: int, dropped: Counter[str]) -> Iterator[Finding]:
        """The first `per_code` findings by position, walking the lines in order; the rest only counted (a candidate
        on every line of a big file would otherwise be a finding object per line on every edit)."""
        hits, left, more = self._hits, per_code, 0
        for line, slot in enumerate(view.slots_in_order):
            mine = hits.get(slot)
            if mine is None:
                continue
            kept = [g for g in mine if g.kind in allowed]
            if not kept:
                continue
            if left <= 0:
                more += len(kept)
                continue
            found = sorted((self.render(g, view) for g in kept), key=column)
            for f in found[:left]:
                yield f.at_line(line)
            more += max(0, len(found) - left)
            left -= min(left, len(found))
        if more:
            dropped[self.code] += more
