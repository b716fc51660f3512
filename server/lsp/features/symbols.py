"""Document symbols: one per example (`#12 user: How do I…`), for the outline and breadcrumbs."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from lsprotocol import types

from tuneline.analysis.lines import utf16_len

from ..protocol import RawJSON

if TYPE_CHECKING:
    from ..documents import Analysis, Document
    from ..server import TunelineServer

_KIND = int(types.SymbolKind.Object)


def symbols_json(doc: Document, analysis: Analysis) -> RawJSON:
    """The symbols as JSON text, encoded on the analysis thread. Why text and not dicts: the outline of a 100k-line
    file as dicts, then `json.dumps`, peaked ~200 MB above the server's size; one small string per symbol, joined
    once, is the same text at less than half that. Each symbol's text is kept between analyses (`_symbols`), not
    the joined whole: joining them again is ~20 ms at 100k lines, and keeping both would hold the outline twice."""
    return RawJSON("[" + ",".join(_symbols(doc, analysis)) + "]")


def _symbols(doc: Document, analysis: Analysis) -> list[str]:
    """Each example's symbol (`#12 user: How do I…`, its tokens, the whole line), exactly as `encode` writes it.

    VS Code asks again after every edit (outline, breadcrumbs), on the analysis thread, so a line's symbol is kept
    while the line keeps its text, result and example number: a one-line edit rebuilds one symbol, not 100,000
    (0.27 → ~0.07 s of the analysis thread at 100k lines, where the next keystroke's analysis waits). An inserted
    example renumbers the ones below it, which are built again."""
    dataset = doc.dataset
    if dataset is None:
        return []
    known = doc.symbol_pieces
    numbers = doc.example_numbers(analysis)
    for line in [k for k in known if k >= len(numbers) or not numbers[k]]:
        del known[line]  # lines that are gone or no longer examples: their texts need not be kept
    dumps = json.dumps
    get = known.get
    out: list[str] = []
    append = out.append
    for line, (number, text, result) in enumerate(zip(numbers, dataset.texts, dataset.results)):
        if not number:
            continue
        hit = get(line)
        if hit is not None and hit[0] is text and hit[1] == number and hit[2] is result:
            append(hit[3])
            continue
        end = utf16_len(text)
        name = dumps(f"#{number} {result.label or result.format or 'example'}", ensure_ascii=True)
        piece = (
            f'{{"name":{name},"detail":"{result.tokens:,} tok","kind":{_KIND},'
            f'"range":{{"start":{{"line":{line},"character":0}},"end":{{"line":{line},"character":{end}}}}},'
            f'"selectionRange":{{"start":{{"line":{line},"character":0}},"end":{{"line":{line},"character":0}}}}}}'
        )
        known[line] = (text, number, result, piece)
        append(piece)
    return out


def register(server: TunelineServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DOCUMENT_SYMBOL)
    async def document_symbol(ls: TunelineServer, params: types.DocumentSymbolParams) -> RawJSON | list:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return []
        return await ls.scheduler.read(doc, symbols_json) or []
