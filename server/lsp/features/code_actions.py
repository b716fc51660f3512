"""Code actions: quick fixes carried by the diagnostics, "convert to chat", and `source.fixAll.tuneline`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from lsprotocol.converters import get_converter

from tuneline.analysis.lines import utf16_len
from tuneline.analysis.rules.edits import chat_conversion

from ..convert import SOURCE, line_hash, range_dict
from ..workspace_edits import fix_all, fix_edits, workspace_edit

if TYPE_CHECKING:
    from ..documents import Document
    from ..server import TunelineServer

FIX_ALL_KIND = "source.fixAll.tuneline"
QUICKFIX = str(types.CodeActionKind.QuickFix.value)
REWRITE = str(types.CodeActionKind.RefactorRewrite.value)
_CONVERTIBLE = frozenset({"alpaca", "sharegpt"})
_CONVERTER = get_converter()


def wanted(kind: str, only: list[str] | None, *, explicit: bool = False) -> bool:
    """Whether `kind` falls under the client's `only` filter (hierarchical: "source" covers "source.fixAll...")."""
    if not only:
        return not explicit
    return any(kind == o or kind.startswith(o + ".") for o in only)


def _as_dict(value: Any) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def _valid_fix(fix: Any) -> bool:
    """A fix as `convert.py` puts it in `Diagnostic.data` (the client echoes it back, possibly altered)."""
    if not isinstance(fix, dict) or not isinstance(fix.get("title", ""), str):
        return False
    edits = fix.get("edits", [])
    return isinstance(edits, list) and all(
        isinstance(e, list)
        and len(e) == 3
        and all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in e[:2])
        and isinstance(e[2], str)
        for e in edits
    )


def fix_all_action(ls: TunelineServer, doc: Document) -> tuple[dict[str, Any] | None, int]:
    """The fix-all edit for a settled document (call right after `settled`, before any await)."""
    if doc.analysis is None or doc.dataset is None:
        return None, 0
    edits, count = fix_all(doc.buffer.lines, doc.dataset.texts, doc.analysis.all_findings(doc.dataset))
    if not count:
        return None, 0
    return workspace_edit(ls, doc.uri, doc.version, edits), count


def register(server: TunelineServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_CODE_ACTION,
        types.CodeActionOptions(
            code_action_kinds=[types.CodeActionKind.QuickFix, types.CodeActionKind.RefactorRewrite, FIX_ALL_KIND],
            resolve_provider=False,
        ),
    )
    async def code_action(ls: TunelineServer, params: types.CodeActionParams) -> list[dict[str, Any]]:
        uri = params.text_document.uri
        doc = ls.documents.get(uri)
        if doc is None:
            return []
        only = [str(getattr(k, "value", k)) for k in params.context.only] if params.context.only else None
        analysis = await ls.scheduler.settled(doc)
        if analysis is None or doc.dataset is None:
            return []
        # From here on no await: the buffer and the dataset agree (nothing is pending).
        lines = doc.buffer.lines
        dataset = doc.dataset
        first = max(0, params.range.start.line)
        last = min(params.range.end.line, len(dataset) - 1)
        actions: list[dict[str, Any]] = []
        seen: set[tuple[int, str, str]] = set()

        def add_fix(line: int, code: str, fix: dict[str, Any], diagnostic: dict[str, Any]) -> None:
            key = (line, code, fix.get("title", ""))
            if key in seen:
                return
            seen.add(key)
            actions.append(
                {
                    "title": f"{fix.get('title', 'Fix')} ({code})",
                    "kind": QUICKFIX,
                    "diagnostics": [diagnostic],
                    "isPreferred": bool(fix.get("safe")),
                    "edit": workspace_edit(ls, uri, doc.version, fix_edits(lines, line, fix)),
                }
            )

        if wanted(QUICKFIX, only):
            # 1. The fix travels in the diagnostic the client sends back (checked against the line's text now).
            for diag in params.context.diagnostics:
                data = _as_dict(diag.data)
                if diag.source != SOURCE or data is None or not _valid_fix(data.get("fix")):
                    continue  # not ours, or mangled on the way back: the last analysis has the fixes too
                line = diag.range.start.line
                if 0 <= line < len(dataset) and data.get("lineHash") == line_hash(lines[line]):
                    raw = _CONVERTER.unstructure(diag)
                    add_fix(line, str(diag.code), data["fix"], raw)
            # 2. Clients that drop `data` (or send no context): the last analysis has the same fixes.
            for line in range(first, last + 1):
                for finding, diagnostic in analysis.at_line(line):
                    fix = _as_dict(diagnostic.get("data", {}).get("fix")) if "data" in diagnostic else None
                    if fix is not None:
                        add_fix(line, finding.code, fix, diagnostic)
        if wanted(REWRITE, only):
            for line in range(first, last + 1):
                result = dataset.result(line)
                if result.format not in _CONVERTIBLE or any(k[0] == line and k[1] == "TL101" for k in seen):
                    continue
                converted = chat_conversion(dataset.text(line))
                if converted is None:
                    continue
                edit = {"range": range_dict(line, 0, line, utf16_len(lines[line])), "newText": converted}
                actions.append(
                    {
                        "title": f"Convert this {result.format} example to chat messages",
                        "kind": REWRITE,
                        "edit": workspace_edit(ls, uri, doc.version, [edit]),
                    }
                )
        if wanted(FIX_ALL_KIND, only, explicit=True):
            edit, count = fix_all_action(ls, doc)
            if edit is not None:
                actions.append(
                    {"title": f"Fix all safe tuneline problems ({count})", "kind": FIX_ALL_KIND, "edit": edit}
                )
        return actions
