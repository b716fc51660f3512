"""pygls's protocol with four changes tuneline needs (pygls is pinned below 3; tests cover each change).

1. Text sync bypasses pygls's `Workspace`: its `TextDocument` re-splits the whole text with `str.splitlines` on
   every change (wrong lines after U+2028, and O(file) per keystroke). Our `LineBuffer` keeps the text instead.
2. Positions are always UTF-16 (what VS Code speaks), whatever encodings a client offers.
3. Successful responses are sent as plain JSON: results that are already dicts skip a deep copy through cattrs
   (lsprotocol objects inside are still unstructured), and a `RawJSON` result (diagnostics, the symbols of a
   100k-line file) was encoded on the analysis thread and is written as is, so the event loop never spends a
   large file's worth of time in `json.dumps`.
4. The `workDoneToken` of `workspace/executeCommand` is kept in a context variable for command handlers.
5. A request whose params do not fit the LSP types gets an error response at once (pygls would log it and
   never answer, leaving the client waiting).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.json_rpc import JsonRPCNotification
from pygls.protocol.language_server import lsp_method

log = logging.getLogger("tuneline.lsp")

COMMAND_WORK_DONE_TOKEN: contextvars.ContextVar[int | str | None] = contextvars.ContextVar(
    "tuneline_work_done_token", default=None
)


class RawJSON(str):
    """A result or params value that is already JSON text (ASCII-only: encoded with `ensure_ascii`)."""


def encode(value: Any) -> RawJSON:
    """JSON text for `RawJSON`; ASCII escapes keep lone surrogates (legal in JSON strings) writable."""
    return RawJSON(json.dumps(value, ensure_ascii=True, separators=(",", ":")))


class TunelineProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writes: set[asyncio.Future] = set()

    @lsp_method(types.INITIALIZE)
    def lsp_initialize(self, params: types.InitializeParams):
        general = params.capabilities.general
        if general is not None:
            general.position_encodings = None  # pygls then picks (and announces) UTF-16
        return (yield from super().lsp_initialize(params))

    def _user(self, method: str, params: Any):
        handler = self.fm.features.get(method)
        if handler is not None:
            yield handler, (params,), None

    @lsp_method(types.TEXT_DOCUMENT_DID_OPEN)
    def lsp_text_document__did_open(self, params: types.DidOpenTextDocumentParams):
        yield from self._user(types.TEXT_DOCUMENT_DID_OPEN, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CHANGE)
    def lsp_text_document__did_change(self, params: types.DidChangeTextDocumentParams):
        yield from self._user(types.TEXT_DOCUMENT_DID_CHANGE, params)

    @lsp_method(types.TEXT_DOCUMENT_DID_CLOSE)
    def lsp_text_document__did_close(self, params: types.DidCloseTextDocumentParams):
        yield from self._user(types.TEXT_DOCUMENT_DID_CLOSE, params)

    @lsp_method(types.WORKSPACE_EXECUTE_COMMAND)
    def lsp_workspace__execute_command(self, params: types.ExecuteCommandParams):
        COMMAND_WORK_DONE_TOKEN.set(params.work_done_token)
        return (yield from super().lsp_workspace__execute_command(params))

    def _send_response(self, msg_id, result: Any | None = None, error: types.ResponseError | None = None):
        if error is not None:
            return super()._send_response(msg_id, result, error)
        if isinstance(result, RawJSON):
            self.send_raw(f'{{"jsonrpc":"2.0","id":{json.dumps(msg_id)},"result":{result}}}')
            return None
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id, "result": result})
        return None

    def structure_message(self, data: dict[str, Any]):
        try:
            return super().structure_message(data)
        except JsonRpcException as exc:
            if not (isinstance(data, dict) and "id" in data and "method" in data):
                raise  # a notification or a response: pygls logs it
            method = str(data.get("method"))
            log.warning("invalid params for %s (request %s): answered with an error", method, data.get("id"))
            error = {"code": exc.code, "message": f"{method}: the parameters do not match the LSP types"}
            self._send_data({"jsonrpc": self.VERSION, "id": data["id"], "error": error})
            return JsonRPCNotification(method="$/tuneline/ignored", params=None, jsonrpc=self.VERSION)

    def send_raw(self, body: str) -> None:
        """Write one message whose JSON text is ready (ASCII), with its header."""
        if self.writer is None:
            log.error("no transport to write to")
            return
        data = body.encode("ascii")
        if self._include_headers:  # stdio and TCP; websockets carry bare JSON
            data = b"Content-Length: %d\r\n\r\n%s" % (len(data), data)
        res = self.writer.write(data)
        if inspect.isawaitable(res):  # websocket writers
            task = asyncio.ensure_future(res)
            self._writes.add(task)
            task.add_done_callback(self._writes.discard)

    def send_notification_raw(self, method: str, params: RawJSON) -> None:
        self.send_raw(f'{{"jsonrpc":"2.0","method":{json.dumps(method)},"params":{params}}}')

    def send_notification_json(self, method: str, params: dict[str, Any]) -> None:
        """A notification whose params are already plain JSON (no cattrs on the way out)."""
        self._send_data({"jsonrpc": self.VERSION, "method": method, "params": params})
