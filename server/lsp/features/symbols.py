"""Document symbols: one per example (`#12 user: How do I…`), for the outline and breadcrumbs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING

from lsprotocol import types

from tuneline.analysis.lines import utf16_len

from ..protocol import RawJSON

if TYPE_CHECKING:
    from ..documents import Analysis, Document
    from ..server import TunelineServer

_KIND = int(types.SymbolKind.Object)


def symbols_json(doc: Document, analysis: Analysis) -> RawJSON:
    """The symbols as JSON text, encoded on the analysis thread and kept until the next analysis (VS Code asks
    often). Why text and not dicts: the outline of a 100k-line file as dicts, then `json.dumps`, peaked ~200 MB
    above the server's size; one small string per symbol, joined once, is the same text at less than half that."""
    cached = doc.symbols_cache
    if cached is not None and cached[0] == analysis.generation:
        return cached[1]
    encoded = RawJSON("[" + ",".join(_symbols(doc, analysis)) + "]")
    doc.symbols_cache = (analysis.generation, encoded)
    return encoded


def _symbols(doc: Document, analysis: Analysis) -> Iterator[str]:
    """One example's symbol (`#12 user: How do I…`, its tokens, the whole line), exactly as `encode` writes it."""
    dataset = doc.dataset
    if dataset is None:
        return
    dumps = json.dumps
    for line, number in enumerate(doc.example_numbers(analysis)):
        if not number:
            continue
        result = dataset.result(line)
        end = utf16_len(dataset.text(line))
        name = dumps(f"#{number} {result.label or result.format or 'example'}", ensure_ascii=True)
        yield (
            f'{{"name":{name},"detail":"{result.tokens:,} tok","kind":{_KIND},'
            f'"range":{{"start":{{"line":{line},"character":0}},"end":{{"line":{line},"character":{end}}}}},'
            f'"selectionRange":{{"start":{{"line":{line},"character":0}},"end":{{"line":{line},"character":0}}}}}}'
        )


def register(server: TunelineServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(ls: TunelineServer, params: types.DocumentSymbolParams) -> RawJSON | list:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return []
        return await ls.scheduler.read(doc, symbols_json) or []
