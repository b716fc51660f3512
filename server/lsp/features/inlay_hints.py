"""Inlay hints: each example's token count at the end of its line, only for the requested range."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tuneline.analysis.lines import utf16_len

if TYPE_CHECKING:
    from ..documents import Analysis, Document
    from ..server import TunelineServer


def hints(doc: Document, analysis: Analysis, first: int, last: int) -> list[dict[str, Any]]:
    dataset = doc.dataset
    if dataset is None:
        return []
    exact = dataset.engine.tokens_exact  # False: another tokenizer than the target's, so "≈" like the hover
    out = []
    for line in range(max(0, first), min(last, len(dataset) - 1) + 1):
        result = dataset.result(line)
        if result.kind != "example":
            continue
        # image tokens are not in the count either; a line the tokenizer cannot template is o200k_base's
        about = "" if exact and not result.images and not result.tokens_estimated else "≈ "
        out.append(
            {
                "position": {"line": line, "character": utf16_len(dataset.text(line))},
                "label": f"· {about}{result.tokens:,} tok",
                "paddingLeft": True,
            }
        )
    return out


def register(server: TunelineServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_INLAY_HINT, types.InlayHintOptions(resolve_provider=False))
    async def inlay_hint(ls: TunelineServer, params: types.InlayHintParams) -> list[dict[str, Any]]:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None or not ls.settings_for(doc.uri).inlay_hints:
            return []
        r = params.range
        return await ls.scheduler.read(doc, hints, r.start.line, r.end.line) or []
