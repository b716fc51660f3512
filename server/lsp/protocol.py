"""pygls's protocol with six changes tuneline needs (pygls is pinned below 3; tests cover each change).

1. Text sync bypasses pygls's `Workspace`: its `TextDocument` re-splits the whole text with `str.splitlines` on
   every change (wrong lines after U+2028, and O(file) per keystroke). Our `LineBuffer` keeps the text instead.
2. Positions are always UTF-16 (what VS Code speaks), whatever encodings a client offers.
3. Successful responses are sent as plain JSON: results that are already dicts skip a deep copy through cattrs
   (lsprotocol objects inside are still unstructured), and a `RawJSON` result (diagnostics, the symbols of a
   100k-line file) was encoded on the analysis thread and is written as is, so the event loop never spends a
   large file's worth of time in `json.dumps`.
4. The `workDoneToken` of `workspace/executeCommand` is kept in a context variable for command handlers.
5. Every request gets an answer, and the lifecycle is enforced (`receive`, fed by our own frame reader in
   `wire.py`): a message that is not a JSON-RPC request, notification or response gets Invalid Request; params
   that do not fit the LSP types get Invalid Params (pygls would log them and never answer); a request before
   `initialize` gets ServerNotInitialized (-32002) and one after `shutdown` Invalid Request, while notifications
   then are dropped, as the spec says; `exit` ends the process with 0 after `shutdown` and 1 without it.
6. An internal error (-32603) carries one generic sentence naming the method; the exception's text and traceback
   go to the log only. The training commands are refused in an untrusted workspace (`trust.py`).
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
import re
from typing import Any

from lsprotocol import types
from pygls.exceptions import JsonRpcException
from pygls.protocol import LanguageServerProtocol
from pygls.protocol.language_server import lsp_method

from .convert import encode_json
from .logs import LOCAL
from .trust import REFUSED, TRAINING_COMMANDS

log = logging.getLogger("tuneline.lsp")

COMMAND_WORK_DONE_TOKEN: contextvars.ContextVar[int | str | None] = contextvars.ContextVar(
    "tuneline_work_done_token", default=None
)


INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602
INTERNAL_ERROR = -32603
REQUEST_CANCELLED = -32800
SERVER_NOT_INITIALIZED = -32002
REQUEST_FAILED = -32803


_UNKNOWN_COMMAND = re.compile(r"Command name '(.*)' is not defined")


def _sentence_internal(what: str) -> str:
    return f"tuneline could not handle {what} because of an internal error; the details are in the server log."


def _sentence(error: types.ResponseError, method: str | None, msg_id: Any) -> types.ResponseError:
    """The error a client sees: one sentence, no exception text, no traceback (`data`). pygls's own messages carry
    exception texts (`Internal Error: TypeError: …`, `Invalid Params: <cattrs message>`): those go to the log."""
    what = method or "the request"
    message = error.message
    if error.code == INTERNAL_ERROR:
        # The exception's text stays in the log (stderr has pygls's traceback too).
        log.error("%s (request %s) failed: %s", what, msg_id, message, extra=LOCAL)
        message = _sentence_internal(what)
    elif error.code == METHOD_NOT_FOUND:
        message = f"The server has no method {what}."
    elif error.code == REQUEST_CANCELLED:
        message = "The request was cancelled."
    elif error.code == INVALID_PARAMS and message.startswith("Invalid Params"):
        unknown = _UNKNOWN_COMMAND.search(message)
        log.info("%s (request %s): %s", what, msg_id, message, extra=LOCAL)
        message = f"Unknown command {unknown.group(1)}." if unknown else f"{what}: the parameters are not valid."
    return types.ResponseError(code=error.code, message=message)


class RawJSON(str):
    """A result or params value that is already JSON text (ASCII-only: encoded with `ensure_ascii`)."""


def encode(value: Any) -> RawJSON:
    """JSON text for `RawJSON`; ASCII escapes keep lone surrogates (legal in JSON strings) writable."""
    return RawJSON(encode_json(value))


class TunelineProtocol(LanguageServerProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._writes: set[asyncio.Future] = set()
        self._initialized = False
        self._methods: dict[int | str, str] = {}  # open requests' methods, to name them in an internal error

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
        method = self._methods.pop(msg_id, None)
        if error is not None:
            return super()._send_response(msg_id, result, _sentence(error, method, msg_id))
        if isinstance(result, RawJSON):
            self.send_raw(f'{{"jsonrpc":"2.0","id":{json.dumps(msg_id)},"result":{result}}}')
            return None
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id, "result": result})
        return None

    # --- receiving: shape, lifecycle, trust -----------------------------------------------------------------
    def receive(self, data: Any) -> None:
        """One parsed message from the wire (`wire.read_loop`): checked, then handled by pygls."""
        if not isinstance(data, dict):
            self.reply_error(None, INVALID_REQUEST, "A message must be a JSON object.")
            return
        method = data.get("method")
        has_id = "id" in data
        msg_id = data.get("id")
        if has_id and (isinstance(msg_id, bool) or not isinstance(msg_id, (int, str))):
            self.reply_error(None, INVALID_REQUEST, "A request id must be an integer or a string.")
            return
        if data.get("jsonrpc") != self.VERSION:
            self.reply_error(msg_id if has_id else None, INVALID_REQUEST, 'A message must have "jsonrpc": "2.0".')
            return
        if method is None:
            if has_id and ("result" in data or "error" in data):
                self._dispatch(data, None)  # the client's answer to one of our requests
            else:
                self.reply_error(msg_id if has_id else None, INVALID_REQUEST, "The message has no method.")
            return
        if not isinstance(method, str):
            self.reply_error(msg_id if has_id else None, INVALID_REQUEST, "The method must be a string.")
            return
        if not has_id:
            self._notification(data, method)
        else:
            self._request(data, method, msg_id)

    def _notification(self, data: dict[str, Any], method: str) -> None:
        if method == types.EXIT:
            self._dispatch(data, None)
        elif self._shutdown or not self._initialized:
            log.debug("dropped %s: %s", method, "shutting down" if self._shutdown else "not initialized yet")
        else:
            self._dispatch(data, None)

    def _request(self, data: dict[str, Any], method: str, msg_id: int | str) -> None:
        if self._shutdown:
            self.reply_error(msg_id, INVALID_REQUEST, f"The server is shutting down; {method} is not accepted.")
        elif method == types.INITIALIZE and self._initialized:
            self.reply_error(msg_id, INVALID_REQUEST, "The server is already initialized.")
        elif method != types.INITIALIZE and not self._initialized:
            self.reply_error(msg_id, SERVER_NOT_INITIALIZED, f"The server is not initialized yet; {method} came first.")
        elif (
            method == types.WORKSPACE_EXECUTE_COMMAND
            and not getattr(self._server, "trusted", True)
            and isinstance(data.get("params"), dict)
            and data["params"].get("command") in TRAINING_COMMANDS
        ):
            log.info("refused %s: the workspace is not trusted", data["params"]["command"])
            self.reply_error(msg_id, REQUEST_FAILED, REFUSED)
        else:
            self._initialized = self._initialized or method == types.INITIALIZE
            self._methods[msg_id] = method
            self._dispatch(data, msg_id)

    def _dispatch(self, data: dict[str, Any], msg_id: int | str | None) -> None:
        try:
            message = self.structure_message(data)
        except (JsonRpcException, RecursionError):
            if msg_id is None:
                log.warning("ignored a malformed %s message", data.get("method") or "response")
                return
            method = str(data.get("method"))
            self._methods.pop(msg_id, None)
            log.warning("invalid params for %s (request %s): answered with an error", method, msg_id)
            self.reply_error(msg_id, INVALID_PARAMS, f"{method}: the parameters do not match the LSP types.")
            return
        try:
            self.handle_message(message)
        except Exception as exc:  # pygls itself tripped (a `$/cancelRequest` whose id is an object, say)
            method = data.get("method") or "a response"
            log.error("handling %s failed: %r", method, exc, extra=LOCAL)
            if msg_id is not None:
                self._methods.pop(msg_id, None)
                self.reply_error(msg_id, INTERNAL_ERROR, _sentence_internal(str(method)))

    def reply_error(self, msg_id: int | str | None, code: int, message: str) -> None:
        """An error response written directly (also for messages that never became a request)."""
        self._send_data({"jsonrpc": self.VERSION, "id": msg_id, "error": {"code": code, "message": message}})

    @lsp_method(types.EXIT)
    def lsp_exit(self, *args: Any):
        """The spec's exit codes: 0 after `shutdown`, 1 without it (`run()` returns `server.exit_code`)."""
        self._server.exit_code = 0 if self._shutdown else 1  # type: ignore[attr-defined]
        return (yield from super().lsp_exit(*args))

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
