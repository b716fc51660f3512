"""The shared shape of the content rules whose line findings depend on the file (TL501, TL502, TL506).

Why: the line analysis (`content_lines`) finds candidates and prebuilds their findings, spans included, but only
the whole file can say whether a candidate is a problem: a `{name}` slot in a file without code, a missing final
period where nearly every answer has one, an HTML tag that repeats. A rule built on this class keeps the
candidates of its code per example and asks its subclass which kinds hold for the file as it is now.

Speed: an editor asks after every keystroke. With its bound (the first N findings of a code) the lines are walked
in order only until N are found, the rest counted from a tally per kind; when few lines have candidates, only
those lines are placed. A finding built for the last report is handed out again as the same object while it says
the same thing on the same line, so the editor's cache of encoded diagnostics knows it. Before, a 100k-line file
with a candidate on every third line took 40-55 ms an edit for this alone.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from ..finding_cap import column
from ..types import Finding
from .content_lines import ContentFacts, Gated
from .file_rule import Example, FileRule, FileView, Made, discard


class GatedContentRule(FileRule):
    """Holds one code's candidates by slot and by kind; `allowed` decides which kinds are reported."""

    code = ""

    def __init__(self) -> None:
        self._hits: dict[int, tuple[Gated, ...]] = {}
        self.kinds: dict[str, set[int]] = {}  # kind -> slots with a candidate of that kind
        self._tally: Counter[str] = Counter()  # kind -> candidates of that kind (a line may hold several)
        self._made = Made()  # an editor's last findings, by (id of the candidate's finding, line)

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
        code, hits, kinds, tally = self.code, self._hits, self.kinds, self._tally
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
                    tally[g.kind] += 1

    def remove(self, examples: Sequence[Example]) -> None:
        tally = self._tally
        for slot, r in examples:
            facts = r.content
            if not isinstance(facts, ContentFacts):
                continue
            self.count(slot, facts, -1)
            mine = self._hits.pop(slot, ())
            for g in mine:
                discard(self.kinds, g.kind, slot)
                tally[g.kind] -= 1

    def findings(self, view: FileView) -> Iterator[Finding]:
        if not self._hits or self.code not in view.engine.enabled:
            return  # a turned-off code: nothing to list, nor to count past the editor's bound
        allowed = self.allowed(view)
        if not allowed:
            return
        if view.per_code is None:  # `tuneline check`: every finding, once
            for slot, mine in self._hits.items():
                line = None
                for g in mine:
                    if g.kind in allowed:
                        line = view.line_of(slot) if line is None else line
                        yield self.render(g, view).at_line(line)
            return
        self._made.report()
        yield from self._first(view, allowed, view.per_code)

    def _first(self, view: FileView, allowed: set[str], per_code: int) -> Iterator[Finding]:
        """The first `per_code` findings by position, the rest only counted (a candidate on every line of a big
        file would otherwise be a finding object per line on every edit)."""
        hits, order, made = self._hits, view.slots_in_order, self._made
        total = unseen = sum(self._tally[kind] for kind in allowed)
        if not total:
            return
        if view.sparse(total):  # few to report: place their lines instead of walking the file
            slots = set().union(*(self.kinds.get(kind, ()) for kind in allowed))
            lines: Iterable[int] = sorted(map(view.line_of, slots))
        else:  # many: the first `per_code` are within `SPARSE * per_code` lines
            lines = range(len(order))
        left = per_code
        for line in lines:
            if left <= 0 or not unseen:
                break
            mine = hits.get(order[line])
            if mine is None:
                continue
            kept = [g for g in mine if g.kind in allowed]
            if not kept:
                continue
            unseen -= len(kept)
            rendered = sorted(((self.render(g, view), g) for g in kept), key=lambda pair: column(pair[0]))
            for f, g in rendered[:left]:
                said = (g.finding, f.message, f.severity)
                yield made.get((id(g.finding), line), said, lambda: f.at_line(line))  # noqa: B023
            left -= min(left, len(rendered))
        view.bound(self.code, total, per_code - left)
