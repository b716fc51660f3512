"""TL005, TL101, TL102, TL123, TL124: the file's main format, the lines that do not follow it, and whether the
target takes that format at all.

Why a file-level rule: whether a line is "the wrong format" depends on what the rest of the file is, and which
method the file trains with (so which formats the target accepts) follows the main format when the user names no
method. The main format is also the file's format in the summary and the pre-flight.

A file in a format the target refuses (alpaca for OpenAI) or in no known format at all gets one file-level error
that says what the target takes, plus the same error on its first `MARKED_LINES` lines: enough to see it in the
editor and the CLI, not one per line of a 100,000-line file.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence

from ..formats import CONVERTIBLE, FORMAT_TITLES, RFT_FORMAT
from ..models import DEFAULT_MODEL
from ..targets import names_model, shipped_providers
from ..types import Finding, Severity
from .edits import conversion_fix
from .file_rule import Example, FileRule, FileView, Made, discard
from .platform import METHOD_WORDS

_MESSAGE_FORMATS = frozenset({"chat", "kto", RFT_FORMAT})


def _titles(formats: Sequence[str]) -> str:
    titles = [FORMAT_TITLES.get(f, f) for f in formats]
    return titles[0] if len(titles) == 1 else ", ".join(titles[:-1]) + " or " + titles[-1]


def _others(fmt: str, method: str, exclude: str) -> list[str]:
    """Other shipped providers that take `fmt` for `method`: where the file could go as it is."""
    return [name for name, p in shipped_providers().items() if name != exclude and p.accepts(method, fmt)]


def _object(text: str) -> dict | None:
    """A line's JSON object, read again for a file-level message (a few lines at most), or None."""
    try:
        obj = json.loads(text.lstrip("\ufeff"))
    except (ValueError, RecursionError):
        return None
    return obj if isinstance(obj, dict) else None


def _keys(text: str) -> str:
    """The top-level keys of a line, for saying what an unknown line looks like."""
    obj = _object(text)
    if not obj:
        return ""
    keys = list(obj)[:6]
    return ", ".join(k if len(k) <= 30 else k[:29] + "…" for k in keys) + (", …" if len(obj) > 6 else "")


def _mixed_code(fmt: str, dominant: str) -> str:
    """The code of a line in another format: a line of no format in a file of messages lacks them (TL102)."""
    return "TL102" if fmt == "unknown" and dominant in _MESSAGE_FORMATS else "TL101"


class FormatMix(FileRule):
    codes = ("TL005", "TL101", "TL102", "TL123", "TL124")

    def __init__(self) -> None:
        self._formats: dict[str, set[int]] = {}
        self._also: dict[str, set[int]] = {}
        self._made = Made()  # an editor's last findings of lines in another format, by slot

    def add(self, examples: Sequence[Example]) -> None:
        formats, also = self._formats, self._also
        for slot, r in examples:
            formats.setdefault(r.format or "unknown", set()).add(slot)
            if r.also:
                also.setdefault(r.also, set()).add(slot)

    def remove(self, examples: Sequence[Example]) -> None:
        for slot, r in examples:
            discard(self._formats, r.format or "unknown", slot)
            if r.also:
                discard(self._also, r.also, slot)

    def counts(self) -> dict[str, int]:
        return {f: len(s) for f, s in self._formats.items() if s}

    def dominant(self) -> str:
        known = [(len(s), f) for f, s in self._formats.items() if f != "unknown" and s]
        return max(known)[1] if known else ("unknown" if self._formats.get("unknown") else "chat")

    def findings(self, view: FileView) -> Iterator[Finding]:
        if view.array_file:
            yield Finding(
                "TL005",
                "This file is a JSON array, not JSONL (one object per line). Convert it, for example with "
                "`jq -c '.[]' in.json > out.jsonl`.",
                0,
                view.whole(0),
            )
        dominant = view.dominant_format
        refused = self._refusal(view) if view.examples else None
        if refused is not None:
            yield refused
        elif view.examples:
            unoffered = self._model_refusal(view)
            if unoffered is not None:
                yield unoffered
        fits = self._also.get(dominant, set())
        if refused is not None and dominant in self._formats:
            yield from self._marked(view, dominant, self._formats[dominant])
        if view.per_code is not None:
            yield from self._first_mixed(view, dominant, fits)
            return
        for fmt, slots in self._formats.items():
            if fmt == dominant:
                continue
            for slot in slots:
                if slot in fits:
                    continue  # a chat line ending on a user turn, in an RFT file: a multi-turn RFT prompt
                yield self._mixed(view, fmt, dominant, view.line_of(slot))

    def _first_mixed(self, view: FileView, dominant: str, fits: set[int]) -> Iterator[Finding]:
        """The editor's report of the lines in another format: per code, the first `per_code` by position, the rest
        counted (a file with an alpaca line among every five chat lines took 700 ms an edit to report them all,
        each with its conversion fix)."""
        by_code: dict[str, list[str]] = {}
        for fmt in self._formats:
            if fmt != dominant:
                by_code.setdefault(_mixed_code(fmt, dominant), []).append(fmt)
        made, order, texts = self._made, view.slots_in_order, view.texts
        made.report()
        said = (dominant, len(self._formats.get(dominant, ())), view.examples, view.method)
        for code, fmts in by_code.items():
            if code not in view.engine.enabled:
                continue
            sets = [self._formats[fmt] for fmt in fmts]
            count = sum(len(x) if not fits else sum(1 for s in x if s not in fits) for x in sets)

            def has(slot: int, sets: list[set[int]] = sets) -> bool:
                return slot not in fits and any(slot in x for x in sets)

            lines = view.first_of(
                view.per_code,  # type: ignore[arg-type]
                count,
                has,
                lambda sets=sets: (s for x in sets for s in x if s not in fits),  # type: ignore[misc]
            )
            for line in lines:
                slot = order[line]
                fmt = next(f for f, x in zip(fmts, sets) if slot in x)
                yield made.get(
                    slot,
                    (line, texts[line], fmt, said),
                    lambda: self._mixed(view, fmt, dominant, line),  # noqa: B023
                )
            view.bound(code, count, len(lines))

    def _refusal(self, view: FileView) -> Finding | None:
        """TL123 / TL124 on the file: its main format is one the target does not take, or none at all."""
        dominant, method, p = view.dominant_format, view.method, view.provider
        accepted = p.formats_for(method)
        n = view.examples
        if dominant == "unknown":
            keys = next((_keys(view.texts[view.line_of(s)]) for s in self._formats.get("unknown", ())), "")
            looks = f" (the lines have keys such as {keys})" if keys else ""
            takes = f"{p.title} takes {_titles(accepted)} for {method}" if accepted else ""
            return Finding(
                "TL124",
                f"No line of this file is in a format a trainer reads{looks}; {takes}.",
            )
        if dominant in accepted:
            return None
        title = FORMAT_TITLES.get(dominant, dominant)
        if not accepted:
            why = f"{p.title} does not offer {view.method_words}; it offers {', '.join(p.methods)}"
        else:
            why = f"{p.title} does not take it for {view.method_words}; it takes {_titles(accepted)}"
        hint = ""
        if dominant in CONVERTIBLE and "chat" in accepted:
            hint = " Each line has a quick fix that converts it to chat messages."
        other_methods = [m for m in p.methods if m != method and p.accepts(m, dominant)]
        elsewhere = _others(dominant, method, p.name)
        if other_methods:
            hint += f" {p.title} takes it for {' or '.join(other_methods)} (--method {other_methods[0]})."
        elif elsewhere:
            hint += f" Targets that take it as it is: {', '.join(elsewhere)}."
        elif not any(p2.accepts(m, dominant) for p2 in shipped_providers().values() for m in p2.methods):
            hint += " No target tuneline knows takes it."
        count = len(self._formats.get(dominant, ()))
        share = "The file is" if count == n else f"Most of the file ({count:,} of {n:,} examples) is"
        return Finding("TL123", f"{share} {title}: {why}.{hint}")

    def _model_refusal(self, view: FileView) -> Finding | None:
        """TL123 on the file: the provider takes the format for the method, but not on this model (OpenAI's RFT is
        for o4-mini alone, and o4-mini takes nothing else). An error when the model table knows the model, or the
        provider's lists name it for another method (the lists are the provider's word on it); a warning for a
        model neither knows, which may be newer than the lists' date."""
        method, p, model = view.method, view.provider, view.target.model
        listed = p.models_for(method)
        info = view.engine.model  # the model table's row: its dated name for an alias (gpt-4o-mini)
        names = (model, info.name) if info.known else (model,)
        if listed is None or not model or any(names_model(m, n) for m in listed for n in names):
            return None
        model = names[-1]
        elsewhere = [m for m in p.methods if m != method and any(names_model(x, model) for x in p.models_for(m) or ())]
        settings = view.engine.settings
        if settings.target is None and settings.model == DEFAULT_MODEL:  # the user named no model: say whose it is
            model += " (tuneline's default model: no target was named)"
        known = info.known or bool(elsewhere)
        dominant = view.dominant_format
        title = FORMAT_TITLES.get(dominant, dominant)
        if elsewhere:
            ways = " or ".join(METHOD_WORDS.get(m, m) for m in elsewhere)
            why = f"{p.title} fine-tunes {model} with {ways} only, not {view.method_words}"
        else:
            shown = list(listed) if len(listed) <= 4 else [*listed[:3], f"{len(listed) - 3} more"]
            why = f"{p.title} offers {view.method_words} for {_titles(shown)} only, not {model}"
        if not known:
            why += f" (as of {p.method_models.as_of}; a newer model may be missing from that list)"
        hint = f" Train it on a model that takes it (--target {p.name}:{listed[0]})"
        others = [m for m in p.methods if m != method and p.accepts(m, dominant) and p.models_for(m) is None]
        if others:
            hint += f", or with {' or '.join(others)} (--method {others[0]})"
        hint += "."
        if dominant == RFT_FORMAT and view.engine.target.method is None and self._answers_missing(view):
            hint += (
                " If these are supervised examples, each is missing its assistant answer: with --method sft every "
                "such line is reported."
            )
        count, n = len(self._formats.get(dominant, ())), view.examples
        share = "The file is" if count == n else f"Most of the file ({count:,} of {n:,} examples) is"
        return Finding("TL123", f"{share} {title}: {why}.{hint}", severity=None if known else Severity.WARNING)

    def _answers_missing(self, view: FileView) -> bool:
        """Whether the file's RFT lines (the first MARKED_LINES) are RFT only for lacking an answer: nothing but
        `messages`, and no developer message. Lines with grader fields or a developer message are RFT prompts."""
        lines = view.first_lines(self._formats.get(RFT_FORMAT, ()))
        for line in lines:
            obj = _object(view.texts[line])
            if obj is None:
                continue
            messages = obj.get("messages")
            if set(obj) != {"messages"} or not isinstance(messages, list):
                return False
            if any(isinstance(m, dict) and m.get("role") == "developer" for m in messages):
                return False
        return bool(lines)

    def _marked(self, view: FileView, fmt: str, slots: set[int]) -> Iterator[Finding]:
        """The refused format's lines, the first MARKED_LINES of them (by position), each with its own error."""
        lines = view.first_lines(slots)
        p, method = view.provider, view.method
        accepted = p.formats_for(method)
        for line in lines:
            if fmt == "unknown":
                takes = f"; {p.title} takes {_titles(accepted)}" if accepted else ""
                yield Finding("TL124", f"This line matches no known format{takes}.", line, view.whole(line))
                continue
            if accepted:
                message = (
                    f"This line is {FORMAT_TITLES.get(fmt, fmt)}; {p.title} takes {_titles(accepted)} for {method}."
                )
            else:
                message = f"This line is {FORMAT_TITLES.get(fmt, fmt)}; {p.title} does not offer {method}."
            fix = conversion_fix(view.texts[line]) if fmt in CONVERTIBLE and "chat" in accepted else None
            yield Finding("TL123", message, line, view.whole(line), fix)

    def _mixed(self, view: FileView, fmt: str, dominant: str, line: int) -> Finding:
        """A line whose format differs from the file's main format (or that has none, in a file that has one)."""
        if _mixed_code(fmt, dominant) == "TL102":
            return Finding(
                "TL102",
                "No `messages` list: every example in this chat file needs one."
                if dominant != RFT_FORMAT
                else "No `messages` list: every example in this RFT file needs one.",
                line,
                view.whole(line),
            )
        if fmt == "unknown":
            return Finding(
                "TL101",
                f"This line matches no known format; the file is {FORMAT_TITLES[dominant]}.",
                line,
                view.whole(line),
            )
        share = f"({len(self._formats.get(dominant, ()))} of {view.examples} examples)"
        if fmt == RFT_FORMAT and dominant == "chat":
            return Finding(
                "TL101",
                "No assistant answer: this line ends on a user turn like a reinforcement fine-tuning (RFT) prompt, "
                f"but the file is {FORMAT_TITLES[dominant]} {share}.",
                line,
                view.whole(line),
            )
        accepted = view.provider.formats_for(view.method)
        return Finding(
            "TL101",
            f"This line is {FORMAT_TITLES[fmt]}, but the file is {FORMAT_TITLES[dominant]} {share}.",
            line,
            view.whole(line),
            conversion_fix(view.texts[line]) if dominant == "chat" and "chat" in accepted else None,
        )
