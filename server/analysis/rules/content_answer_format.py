"""TL507: answers to the same kind of prompt in different formats.

Examples with the same system prompt (its first 64 characters; the whole file when there is none) are one kind
of task. Within a kind with at least 10 answers, an answer is the odd one out when:
- most answers (80%) are JSON and it is not, or most (90%) are markdown lists and it is a paragraph;
- 90% of the JSON-object answers have one set of top-level keys and it has another (key order does not count);
- 90% of the answers are in one writing system and it is in another that its own prompt is not written in
  (an answer in a script its prompt uses, or to a prompt that asks for a translation, is fine).
A majority of prose makes no finding: a list or a JSON answer among paragraphs is usually what was asked for.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..lines import BOM
from ..types import Finding, Span
from .content_lines import ContentFacts
from .content_texts import Locator
from .file_rule import Example, FileRule, FileView, Made

_CODE = "TL507"
_MIN = 10
_SHAPE_SHARE = {"json": 0.8, "list": 0.9}
_KEYS_SHARE = 0.9
_SCRIPT_SHARE = 0.9
_SHAPE_WORDS = {"json": "JSON", "list": "a markdown list", "prose": "prose"}


def _keys(keys: tuple[str, ...]) -> str:
    shown = ", ".join(keys[:6]) + (", …" if len(keys) > 6 else "")
    return "{" + shown + "}"


def _majority(by_value: dict) -> tuple[object, int]:
    """The most common value and its count (the first one met on a tie, as Counter.most_common does)."""
    best, count = None, -1
    for value, slots in by_value.items():
        if len(slots) > count:
            best, count = value, len(slots)
    return best, count


class _Kind:
    """One kind of task's answers, indexed by shape, key set and script, so that a report visits only the odd
    answers: a count per value says whether a majority rule applies, and the slots under the other values are
    the odd ones. Why: the report runs after every edit, and a pass over 100k answers cost ~50-100 ms of it.

    A kind with fewer than `_MIN` answers is never judged, so it keeps only its slots until it has that many: a file
    whose examples each have their own system prompt has one kind per example, and the three indexes of each took
    ~1 KB (100 MB at 100k examples)."""

    __slots__ = ("keys", "n", "scripts", "shapes", "waiting")

    def __init__(self) -> None:
        self.n = 0
        self.waiting: list[int] | None = []  # the slots, until the indexes below are made (read only after that)
        self.shapes: dict[str | None, set[int]]
        self.keys: dict[tuple[str, ...], set[int]]  # JSON-object answers only
        self.scripts: dict[str, set[int]]  # answers with a script only

    def add(self, slot: int, f: ContentFacts, facts: dict[int, ContentFacts]) -> None:
        self.n += 1
        if self.waiting is None:
            self._index(slot, f)
            return
        self.waiting.append(slot)
        if self.n >= _MIN:
            self.shapes, self.keys, self.scripts = {}, {}, {}
            for s in self.waiting:
                self._index(s, facts[s])
            self.waiting = None

    def _index(self, slot: int, f: ContentFacts) -> None:
        self.shapes.setdefault(f.shape, set()).add(slot)
        if f.keys is not None:
            self.keys.setdefault(f.keys, set()).add(slot)
        if f.script:
            self.scripts.setdefault(f.script, set()).add(slot)

    def remove(self, slot: int, f: ContentFacts) -> None:
        self.n -= 1
        if self.waiting is not None:
            self.waiting.remove(slot)
            return
        for index, value in ((self.shapes, f.shape), (self.keys, f.keys), (self.scripts, f.script)):
            slots = index.get(value)  # type: ignore[call-overload]
            if slots is not None:
                slots.discard(slot)
                if not slots:
                    del index[value]  # type: ignore[arg-type]


def _others(by_value: dict, main: object) -> Iterator[int]:
    return (s for value, slots in by_value.items() if value != main for s in slots)


# Why an answer is odd, kept until its finding is shown: (rule, the majority's value, its count, of how many, where).
_Why = tuple[str, object, int, int, str]


class AnswerFormats(FileRule):
    codes = (_CODE,)

    def __init__(self) -> None:
        self._facts: dict[int, ContentFacts] = {}
        self._kinds: dict[str | None, _Kind] = {}
        # the kinds with enough answers for a majority: a report visits only these, not one kind per system prompt
        # (a file whose prompts all differ has 100k kinds of one answer each: ~7 ms an edit to walk them all)
        self._judged: dict[str | None, _Kind] = {}
        self._made: Made[Finding] = Made()  # an editor's last findings, by slot
        # an editor's last findings' spans, by slot: a count in the message changes with every line added or
        # deleted, but placing the span scans the line (~60 µs)
        self._spans: Made[Span] = Made()

    def add(self, examples: Sequence[Example]) -> None:
        facts, kinds = self._facts, self._kinds
        for slot, r in examples:
            f = r.content
            if isinstance(f, ContentFacts) and f.shape is not None:
                if slot in facts:
                    self._forget(slot)
                facts[slot] = f
                kind = kinds.get(f.group)
                if kind is None:
                    kind = kinds[f.group] = _Kind()
                kind.add(slot, f, facts)
                if kind.n == _MIN:
                    self._judged[f.group] = kind

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, _ in examples:
            self._forget(slot)

    def _forget(self, slot: int) -> None:
        f = self._facts.pop(slot, None)
        if f is None:
            return
        kind = self._kinds[f.group]
        kind.remove(slot, f)
        if kind.n == _MIN - 1:
            del self._judged[f.group]
        if kind.n == 0:
            del self._kinds[f.group]

    def findings(self, view: FileView) -> Iterator[Finding]:
        """Every odd answer; with the editor's bound the first `per_code` by position, the rest counted. Only the
        answers shown get a message and a span (placing a span scans the line: ~60 µs, and a file of JSON answers
        with one in twelve in prose has 8,000 odd ones: 630 ms an edit when each was placed)."""
        if len(self._facts) < _MIN or _CODE not in view.engine.enabled:
            return
        odd: dict[int, _Why] = {}
        for group, kind in self._judged.items():
            self._odd(group, kind, odd)
        if not odd:
            return
        if view.per_code is None:
            for slot, why in odd.items():
                line = view.line_of(slot)
                path = self._facts[slot].path
                yield self._finding(slot, line, why, _span(view.texts[line], path) if path else view.whole(line))
            return
        lines = view.first_of(view.per_code, len(odd), odd.__contains__, lambda: odd)
        made, order = self._made, view.slots_in_order
        made.report()
        self._spans.report()
        spans = self._spans
        for line in lines:
            slot = order[line]
            why, text, path = odd[slot], view.texts[line], self._facts[slot].path
            span = spans.get(slot, text, lambda: _span(text, path)) if path else view.whole(line)  # noqa: B023
            yield made.get(slot, (line, text, why), lambda: self._finding(slot, line, why, span))  # noqa: B023
        view.bound(_CODE, len(odd), len(lines))

    def _odd(self, group: str | None, kind: _Kind, odd: dict[int, _Why]) -> None:
        """The odd answers of one kind of task, each with the first rule it breaks (shape, then keys, then
        script)."""
        facts = self._facts
        where = "answers with this system prompt" if group else "answers in this file"
        n = kind.n
        shape, count = _majority(kind.shapes)
        if shape in _SHAPE_SHARE and count < n and count >= _SHAPE_SHARE[shape] * n:  # type: ignore[index]
            why = ("shape", shape, count, n, where)
            for s in _others(kind.shapes, shape):
                if not (shape == "list" and facts[s].shape == "json"):
                    odd[s] = why
        keyed = sum(map(len, kind.keys.values()))
        if keyed >= _MIN:
            keys, count = _majority(kind.keys)
            if count < keyed and count >= _KEYS_SHARE * keyed:
                why = ("keys", keys, count, keyed, where)
                for s in _others(kind.keys, keys):
                    if s not in odd:
                        odd[s] = why
        written = sum(map(len, kind.scripts.values()))
        if written >= _MIN:
            main, count = _majority(kind.scripts)
            if count < written and count >= _SCRIPT_SHARE * written:
                why = ("script", main, count, written, where)
                for s in _others(kind.scripts, main):
                    f = facts[s]
                    if s not in odd and f.script not in f.prompt_scripts and "*" not in f.prompt_scripts:
                        odd[s] = why

    def _finding(self, slot: int, line: int, why: _Why, span: Span) -> Finding:
        f = self._facts[slot]
        rule, main, count, of, where = why
        if rule == "shape":
            message = (
                f"This answer is {_SHAPE_WORDS[f.shape or 'prose']}, while {count} of {of} {where} are "
                f"{_SHAPE_WORDS[main]}: pick one format per kind of task."  # type: ignore[index]
            )
        elif rule == "keys":
            message = (
                f"This JSON answer has the keys {_keys(f.keys or ())}, while {count} of {of} JSON {where} have "
                f"{_keys(main or ())}."  # type: ignore[arg-type]
            )
        else:
            message = (
                f"This answer is written in {f.script} script, while its prompt is not and {count} of {of} {where} "
                f"are in {main}: an answer in another language than asked."
            )
        return Finding(_CODE, message, line, span)


def _span(text: str, path: tuple) -> Span:
    """Where the answer at `path` sits in the line."""
    offset = 1 if text.startswith(BOM) else 0
    return Locator(text[offset:], offset).value(path)
