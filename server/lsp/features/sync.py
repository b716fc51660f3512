"""Document sync: the editor's text is the truth once a file is open. Incremental edits by UTF-16 ranges."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from lsprotocol import types

if TYPE_CHECKING:
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")


def register(server: TunelineServer) -> None:
    @server.feature(types.TEXT_DOCUMENT_DID_OPEN)
    def did_open(ls: TunelineServer, params: types.DidOpenTextDocumentParams) -> None:
        received = time.perf_counter()
        item = params.text_document
        old = ls.documents.close(item.uri)
        if old is not None:
            ls.scheduler.closed(old)
        doc = ls.documents.open(item.uri, item.version, item.text, item.language_id)
        doc.edit_started.append(("open", item.version, time.perf_counter() - received, received))
        ls.scheduler.changed(doc, 0)

    @server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
    def did_change(ls: TunelineServer, params: types.DidChangeTextDocumentParams) -> None:
        received = time.perf_counter()
        doc = ls.documents.get(params.text_document.uri)
        if doc is None:
            log.warning("didChange for a document that is not open: %s", params.text_document.uri)
            return
        buffer = doc.buffer
        for change in params.content_changes:
            if isinstance(change, types.TextDocumentContentChangePartial):
                r = change.range
                splice = buffer.edit(r.start.line, r.start.character, r.end.line, r.end.character, change.text)
            else:
                splice = buffer.replace_all(change.text)
            doc.pending.append(splice)
        doc.version = params.text_document.version
        doc.edit_started.append(("change", doc.version, time.perf_counter() - received, received))
        ls.scheduler.changed(doc)

    @server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: TunelineServer, params: types.DidCloseTextDocumentParams) -> None:
        doc = ls.documents.close(params.text_document.uri)
        if doc is not None:
            ls.scheduler.closed(doc)
        ls.clear_diagnostics(params.text_document.uri)

    @server.feature(types.TEXT_DOCUMENT_DID_SAVE)
    def did_save(ls: TunelineServer, params: types.DidSaveTextDocumentParams) -> None:
        """Nothing to do: the editor's text was already analysed; the disk copy is never read back."""
