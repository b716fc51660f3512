"""Engine values to LSP JSON: code-point spans to UTF-16 ranges, findings to diagnostics, fixes to text edits.

Diagnostics are built as plain JSON dicts, not lsprotocol objects: a large file's report is sent after every
edit, and building and unstructuring thousands of attrs objects would cost more than the analysis. Everything
about a diagnostic except its line number depends only on the line's text and the finding, so the dict is
cached by those and only re-positioned (`DiagnosticCache`).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from tuneline.analysis import RULES, Finding, Fix
from tuneline.analysis.lines import to_utf16, utf16_len

SOURCE = "tuneline"
_CACHE_MAX = 100_000


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


class DiagnosticCache:
    """Diagnostic dicts without their line, keyed by the line's text and the finding. Used by one thread."""

    def __init__(self) -> None:
        self._items: dict[tuple, tuple[dict[str, Any], int, int]] = {}

    def diagnostic(self, uri: str, finding: Finding, texts: list[str] | None) -> dict[str, Any]:
        line = finding.line
        text = texts[line] if texts is not None and line is not None else ""
        severity = int(finding.severity) if finding.severity is not None else 2
        span = finding.span
        key = (text, finding.code, finding.message, span, severity, finding.fix, line is None)
        hit = self._items.get(key)
        if hit is None:
            hit = self._build(finding, text, severity)
            if len(self._items) >= _CACHE_MAX:
                self._items.clear()
            self._items[key] = hit
        template, start, end = hit
        out = dict(template)
        at = line if line is not None else 0
        out["range"] = range_dict(at, start, at, end)
        if finding.related and texts is not None:
            out["relatedInformation"] = [
                {
                    "location": {"uri": uri, "range": whole_line_range(r.line, texts[r.line])},
                    "message": r.message,
                }
                if r.path is None
                else {  # another file (train/validation overlap): its whole line, without reading it
                    "location": {"uri": Path(r.path).resolve().as_uri(), "range": range_dict(r.line, 0, r.line + 1, 0)},
                    "message": r.message,
                }
                for r in finding.related
                if r.path is not None or 0 <= r.line < len(texts)
            ]
        return out

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
