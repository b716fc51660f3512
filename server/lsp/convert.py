"""Engine values to LSP JSON: code-point spans to UTF-16 ranges, findings to diagnostics, fixes to text edits.

Diagnostics are built as plain JSON dicts, not lsprotocol objects: a large file's report is sent after every
edit, and building and unstructuring thousands of attrs objects would cost more than the analysis. Everything
about a diagnostic except its line number depends only on the line's text and the finding, so the dict is
cached by those and only re-positioned (`DiagnosticCache`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from tuneline.analysis import RULES, Finding, Fix
from tuneline.analysis.lines import to_utf16, utf16_len

SOURCE = "tuneline"
_CACHE_MAX = 100_000
_KNOWN_MAX = 32_768  # finding objects `DiagnosticCache.encoded` knows by identity


def encode_json(value: Any) -> str:
    """Compact JSON with ASCII escapes: lone surrogates (legal in JSON strings) stay writable."""
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _text_at(texts: list[str] | None, related: Any) -> str | None:
    return (
        texts[related.line] if texts is not None and related.path is None and 0 <= related.line < len(texts) else None
    )


def line_hash(text: str) -> str:
    """A short fingerprint of a line, carried in `Diagnostic.data` so a stale fix is never applied."""
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).hexdigest()


def utf16_span(text: str, start: int, end: int) -> tuple[int, int]:
    start = max(0, min(start, len(text)))
    end = max(start, min(end, len(text)))
    if text.isascii():
        return start, end
    return to_utf16(text, start), to_utf16(text, end)


def position(line: int, character: int) -> dict[str, int]:
    return {"line": line, "character": character}


def range_dict(line: int, start: int, end_line: int, end: int) -> dict[str, Any]:
    return {"start": {"line": line, "character": start}, "end": {"line": end_line, "character": end}}


def whole_line_range(line: int, text: str) -> dict[str, Any]:
    return range_dict(line, 0, line, utf16_len(text))


def fix_to_json(fix: Fix, text: str) -> dict[str, Any]:
    """A fix with its edits in UTF-16 units of the line it was computed for."""
    return {
        "title": fix.title,
        "edits": [[*utf16_span(text, e.span.start, e.span.end), e.text] for e in fix.edits],
        "deleteLine": fix.delete_line,
        "safe": fix.safe,
    }


class _Entry:
    """One cached diagnostic: everything but its position, as JSON members, and the last JSON text given out with
    what it depended on (an unchanged line's diagnostic is the same text from one analysis to the next)."""

    __slots__ = ("end", "last_state", "last_text", "members", "start")

    def __init__(self, template: dict[str, Any], start: int, end: int) -> None:
        self.start, self.end = start, end
        self.members = encode_json(template)[1:-1]
        self.last_state: Any = None
        self.last_text = ""


class EncodedDiagnostics(Sequence[dict[str, Any]]):
    """A report's diagnostics as their JSON texts (what is published); a dict is parsed only when a feature asks
    for the diagnostics of one line (code actions, hover)."""

    __slots__ = ("texts",)

    def __init__(self, texts: list[str]) -> None:
        self.texts = texts

    def __len__(self) -> int:
        return len(self.texts)

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [json.loads(t) for t in self.texts[index]]
        return json.loads(self.texts[index])

    def json(self) -> str:
        return "[" + ",".join(self.texts) + "]"


class DiagnosticCache:
    """Diagnostics as JSON text, cached by the line's text and the finding. Used by one thread."""

    def __init__(self) -> None:
        self._items: dict[tuple, _Entry] = {}
        self._pieces: dict[tuple, tuple[str, str]] = {}  # a related location's JSON before and after its range
        # id(finding) -> (finding, its line's text, JSON): a finding object seen before, on the same line text
        self._known: dict[int, tuple[Finding, Any, str]] = {}

    def _entry(self, finding: Finding, texts: list[str] | None) -> _Entry:
        line = finding.line
        text = texts[line] if texts is not None and line is not None else ""
        severity = int(finding.severity) if finding.severity is not None else 2
        key = (text, finding.code, finding.message, finding.span, severity, finding.fix, line is None)
        entry = self._items.get(key)
        if entry is None:
            entry = _Entry(*self._build(finding, text, severity))
            if len(self._items) >= _CACHE_MAX:
                self._items.clear()
            self._items[key] = entry
        return entry

    def encoded(self, uri: str, finding: Finding, texts: list[str] | None) -> str:
        """The diagnostic's JSON text (what `encode_json` would write of it, members in another order).

        A finding object given again for the same line text (an editor's dataset hands out the same placed object
        for a line it did not touch: `Dataset._placed`) gets its text back from one lookup, without building the
        cache key from its fields (a finding with related locations: for the same related lines' texts too)."""
        related = finding.related if texts is not None else ()
        line = finding.line
        text = texts[line] if texts is not None and line is not None else None
        # what the text depends on beyond the finding: its line's text; with related locations, also the uri and
        # the related lines' texts (their ranges)
        related_texts = tuple(_text_at(texts, r) for r in related)
        state = (text, uri, related_texts) if related else text
        known = self._known.get(id(finding))
        if known is not None and known[0] is finding and (known[1] is state or known[1] == state):
            return known[2]
        encoded = self._encoded(uri, finding, texts, related, related_texts)
        if len(self._known) >= _KNOWN_MAX:
            self._known.clear()
        self._known[id(finding)] = (finding, state, encoded)
        return encoded

    def _encoded(
        self, uri: str, finding: Finding, texts: list[str] | None, related: tuple, related_texts: tuple
    ) -> str:
        entry = self._entry(finding, texts)
        at = finding.line if finding.line is not None else 0
        # What the text depends on beyond the entry: the line, and the related lines' own texts (their ranges).
        # One cache serves every open document: the uri is part of what the related locations say.
        state: Any = (
            (at, uri, tuple((r.line, r.path, r.message, t) for r, t in zip(related, related_texts))) if related else at
        )
        if entry.last_state == state and entry.last_text:
            return entry.last_text
        position = (
            f'"range":{{"start":{{"line":{at},"character":{entry.start}}},'
            f'"end":{{"line":{at},"character":{entry.end}}}}}'
        )
        if related:
            info = self._related_json(uri, finding, texts)  # type: ignore[arg-type]
            text = f'{{{position},"relatedInformation":{info},{entry.members}}}'
        else:
            text = f"{{{position},{entry.members}}}"
        entry.last_state, entry.last_text = state, text
        return text

    def _related_json(self, uri: str, finding: Finding, texts: list[str]) -> str:
        """The related locations as JSON text: this file's whole line, or another file's line (train/validation
        overlap) without reading it; lines outside the file are left out. Formatted from cached pieces: moving a
        diagnostic with related lines (a duplicate's first copy) re-encodes only numbers, so an inserted line above
        many of them stays cheap."""
        pieces = self._pieces
        if len(pieces) >= _CACHE_MAX:
            pieces.clear()
        out = []
        for r in finding.related:
            if r.path is None and not 0 <= r.line < len(texts):
                continue
            key = (uri, r.path, r.message)
            cached = pieces.get(key)
            if cached is None:
                location = encode_json(uri if r.path is None else Path(r.path).resolve().as_uri())
                cached = pieces[key] = (
                    f'{{"location":{{"uri":{location},"range":',
                    f'}},"message":{encode_json(r.message)}}}',
                )
            if r.path is None:
                line, end_line, end = r.line, r.line, utf16_len(texts[r.line])
            else:
                line, end_line, end = r.line, r.line + 1, 0
            out.append(
                f'{cached[0]}{{"start":{{"line":{line},"character":0}},"end":{{"line":{end_line},"character":{end}}}}}'
                f"{cached[1]}"
            )
        return "[" + ",".join(out) + "]"

    @staticmethod
    def _build(finding: Finding, text: str, severity: int) -> tuple[dict[str, Any], int, int]:
        if finding.line is None or finding.span is None:
            start = end = 0
        else:
            start, end = utf16_span(text, finding.span.start, finding.span.end)
        template: dict[str, Any] = {
            "severity": severity,
            "code": finding.code,
            "source": SOURCE,
            "message": finding.message,
        }
        rule = RULES.get(finding.code)
        if rule is not None:
            template["codeDescription"] = {"href": rule.url}
        if finding.fix is not None and finding.line is not None:
            template["data"] = {"fix": fix_to_json(finding.fix, text), "lineHash": line_hash(text)}
        return template, start, end
