"""Pull diagnostics (`textDocument/diagnostic`). Push clients get `publishDiagnostics` from the scheduler."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..protocol import RawJSON

if TYPE_CHECKING:
    from ..server import TunelineServer


def register(server: TunelineServer) -> None:
    @server.feature(
        types.TEXT_DOCUMENT_DIAGNOSTIC,
        types.DiagnosticOptions(identifier="tuneline", inter_file_dependencies=False, workspace_diagnostics=False),
    )
    async def diagnostic(ls: TunelineServer, params: types.DocumentDiagnosticParams) -> dict[str, Any] | RawJSON:
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            return {"kind": "full", "items": []}
        # Wait for the debounced analysis; a newer edit makes the client cancel this request ($/cancelRequest).
        analysis = await ls.scheduler.settled(doc, kick=False)
        if analysis is None:
            return {"kind": "full", "items": []}
        if params.previous_result_id == analysis.result_id:
            return {"kind": "unchanged", "resultId": analysis.result_id}
        # the items were encoded on the analysis thread: the loop only frames them
        return RawJSON(f'{{"kind":"full","resultId":"{analysis.result_id}","items":{analysis.diagnostics_json}}}')
