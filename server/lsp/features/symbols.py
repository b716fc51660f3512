"""Document symbols: one per example (`#12 user: How do I…`), for the outline and breadcrumbs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types
from tuneline.analysis.lines import utf16_len

if TYPE_CHECKING:
    from ..documents import Analysis, Document
    from ..server import TunelineServer

_KIND = int(types.SymbolKind.Object)


def symbols(doc: Document, analysis: Analysis) -> list[dict[str, Any]]:
    dataset = doc.dataset
    if dataset is None:
        return []
    numbers = doc.example_numbers(analysis)
    out = []
    for line, number in enumerate(numbers):
        if not number:
            continue
        result = dataset.result(line)
        end = utf16_len(dataset.text(line))
        out.append(
            {
                "name": f"#{number} {result.label or result.format or 'example'}",
                "detail": f"{result.tokens:,} tok",
                "kind": _KIND,
                "range": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": end}},
                "selectionRange": {"start": {"line": line, "character": 0}, "end": {"line": line, "character": 0}},
            }
        )
    return out


def register(server: TunelineServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(ls: TunelineServer, params: types.DocumentSymbolParams) -> list[dict[str, Any]]:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return []
        return await ls.scheduler.read(doc, symbols) or []
