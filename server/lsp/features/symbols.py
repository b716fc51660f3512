"""Document symbols: one per example (`#12 user: How do I…`), for the outline and breadcrumbs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tuneline.analysis.lines import utf16_len

from ..protocol import RawJSON, encode

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


def symbols_json(doc: Document, analysis: Analysis) -> RawJSON:
    """The symbols, encoded on the analysis thread, and kept until the next analysis (VS Code asks often)."""
    cached = doc.symbols_cache
    if cached is not None and cached[0] == analysis.generation:
        return cached[1]
    encoded = encode(symbols(doc, analysis))
    doc.symbols_cache = (analysis.generation, encoded)
    return encoded


def register(server: TunelineServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(ls: TunelineServer, params: types.DocumentSymbolParams) -> RawJSON | list:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return []
        return await ls.scheduler.read(doc, symbols_json) or []
