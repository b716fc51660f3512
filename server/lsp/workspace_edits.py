"""Fixes to LSP text edits and workspace edits (never file writes: the editor applies them, undoably)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from tuneline.analysis import Finding
from tuneline.analysis.lines import utf16_len

from .convert import fix_to_json, range_dict

if TYPE_CHECKING:
    from .server import TunelineServer


def delete_lines_range(lines: list[str], first: int, last: int) -> dict[str, Any]:
    """The range that removes lines first..last (inclusive) with their line breaks. `lines` are the document's."""
    if last + 1 < len(lines):
        return range_dict(first, 0, last + 1, 0)
    if first > 0:  # the last line has no break after it: take the one before it instead
        return range_dict(first - 1, utf16_len(lines[first - 1]), last, utf16_len(lines[last]))
    return range_dict(0, 0, last, utf16_len(lines[last]))


def fix_edits(lines: list[str], line: int, fix: dict[str, Any]) -> list[dict[str, Any]]:
    """TextEdits for one fix (as carried in `Diagnostic.data`) on document line `line`."""
    if fix.get("deleteLine"):
        return [{"range": delete_lines_range(lines, line, line), "newText": ""}]
    return [{"range": range_dict(line, s, line, e), "newText": text} for s, e, text in fix.get("edits", [])]


def workspace_edit(ls: TunelineServer, uri: str, version: int | None, edits: list[dict[str, Any]]) -> dict[str, Any]:
    if ls.capability("workspace.workspace_edit.document_changes"):
        return {"documentChanges": [{"textDocument": {"uri": uri, "version": version}, "edits": edits}]}
    return {"changes": {uri: edits}}


def fix_all(lines: list[str], texts: list[str], findings: list[Finding]) -> tuple[list[dict[str, Any]], int]:
    """Every safe fix that does not collide with another: (text edits, number of fixes applied).

    `lines` are the document's lines, `texts` the analysed lines (equal, minus a trailing empty line). Lines to
    delete are merged into runs; on other lines, fixes whose edits overlap an earlier fix are left out (the next
    fix-all picks them up).
    """
    per_line: dict[int, list[dict[str, Any]]] = {}
    for f in findings:
        if f.fix is None or not f.fix.safe or f.line is None or f.line >= len(texts):
            continue
        per_line.setdefault(f.line, []).append(fix_to_json(f.fix, texts[f.line]))
    deleted = sorted(line for line, fixes in per_line.items() if any(fx["deleteLine"] for fx in fixes))
    edits: list[dict[str, Any]] = []
    count = 0
    run_start = None
    for i, line in enumerate(deleted):
        if run_start is None:
            run_start = line
        if i + 1 == len(deleted) or deleted[i + 1] != line + 1:
            edits.append({"range": delete_lines_range(lines, run_start, line), "newText": ""})
            count += line - run_start + 1
            run_start = None
    gone = set(deleted)
    for line, fixes in sorted(per_line.items()):
        if line in gone:
            continue
        taken: list[tuple[int, int]] = []
        for fx in fixes:
            spans = [(s, e) for s, e, _ in fx["edits"]]
            if not spans or any(_overlaps(span, t) for span in spans for t in taken):
                continue
            taken.extend(spans)
            edits.extend({"range": range_dict(line, s, line, e), "newText": text} for s, e, text in fx["edits"])
            count += 1
    return edits, count


def _overlaps(a: tuple[int, int], b: tuple[int, int]) -> bool:
    if a[0] == a[1] or b[0] == b[1]:  # insertions: only the same point (or strictly inside) collides
        return b[0] <= a[0] <= b[1] if a[0] == a[1] else a[0] <= b[0] <= a[1]
    return a[0] < b[1] and b[0] < a[1]
