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

from collections import Counter
from collections.abc import Iterator, Sequence

from ..lines import BOM
from ..types import Finding
from .content_lines import ContentFacts
from .content_texts import Locator
from .file_rule import Example, FileRule, FileView

_MIN = 10
_SHAPE_SHARE = {"json": 0.8, "list": 0.9}
_KEYS_SHARE = 0.9
_SCRIPT_SHARE = 0.9
_SHAPE_WORDS = {"json": "JSON", "list": "a markdown list", "prose": "prose"}


def _keys(keys: tuple[str, ...]) -> str:
    shown = ", ".join(keys[:6]) + (", …" if len(keys) > 6 else "")
    return "{" + shown + "}"


class AnswerFormats(FileRule):
    codes = ("TL507",)

    def __init__(self) -> None:
        self._facts: dict[int, ContentFacts] = {}

    def add(self, examples: Sequence[Example]) -> None:
        facts = self._facts
        for slot, r in examples:
            f = r.content
            if isinstance(f, ContentFacts) and f.shape is not None:
                facts[slot] = f

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, _ in examples:
            self._facts.pop(slot, None)

    def findings(self, view: FileView) -> Iterator[Finding]:
        if len(self._facts) < _MIN:
            return
        groups: dict[str | None, list[int]] = {}
        for slot, f in self._facts.items():
            groups.setdefault(f.group, []).append(slot)
        for group, slots in groups.items():
            if len(slots) >= _MIN:
                yield from self._group(view, group, slots)

    def _group(self, view: FileView, group: str | None, slots: list[int]) -> Iterator[Finding]:
        facts = self._facts
        where = "answers with this system prompt" if group else "answers in this file"
        n = len(slots)
        odd: dict[int, str] = {}
        shapes = Counter(facts[s].shape for s in slots)
        shape, count = shapes.most_common(1)[0]
        if shape in _SHAPE_SHARE and count < n and count >= _SHAPE_SHARE[shape] * n:
            for s in slots:
                mine = facts[s].shape
                if mine != shape and not (shape == "list" and mine == "json"):
                    odd[s] = (
                        f"This answer is {_SHAPE_WORDS[mine or 'prose']}, while {count} of {n} {where} are "
                        f"{_SHAPE_WORDS[shape]}: pick one format per kind of task."
                    )
        keyed = [s for s in slots if facts[s].keys is not None]
        if len(keyed) >= _MIN:
            sets = Counter(facts[s].keys for s in keyed)
            keys, count = sets.most_common(1)[0]
            if count < len(keyed) and count >= _KEYS_SHARE * len(keyed):
                for s in keyed:
                    if facts[s].keys != keys and s not in odd:
                        odd[s] = (
                            f"This JSON answer has the keys {_keys(facts[s].keys or ())}, while {count} of "
                            f"{len(keyed)} JSON {where} have {_keys(keys or ())}."
                        )
        written = [s for s in slots if facts[s].script]
        if len(written) >= _MIN:
            scripts = Counter(facts[s].script for s in written)
            main, count = scripts.most_common(1)[0]
            if count < len(written) and count >= _SCRIPT_SHARE * len(written):
                for s in written:
                    f = facts[s]
                    asked = f.script in f.prompt_scripts or "*" in f.prompt_scripts
                    if f.script != main and not asked and s not in odd:
                        odd[s] = (
                            f"This answer is written in {f.script} script, while its prompt is not and {count} of "
                            f"{len(written)} {where} are in {main}: an answer in another language than asked."
                        )
        for slot, message in odd.items():
            line = view.line_of(slot)
            text = view.texts[line]
            offset = 1 if text.startswith(BOM) else 0
            path = facts[slot].path
            span = Locator(text[offset:], offset).value(path) if path else view.whole(line)
            yield Finding("TL507", message, line, span)
