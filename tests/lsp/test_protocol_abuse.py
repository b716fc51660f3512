"""Protocol abuse through the real `tuneline serve` process, with raw JSON-RPC frames (a tiny framed client below):
every request is answered — before `initialize` (-32002), after `shutdown` (Invalid Request), without a method, with
params nested 100,000 deep, with invalid JSON or UTF-8 — notifications are dropped when the spec says so, `exit`
gives 1 without `shutdown` and 0 after it, and an internal error reaches the client as one generic sentence (the
exception's text only in the log). Every wait is bounded."""

from __future__ import annotations

import contextlib
import json
import queue
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from .helpers import SERVER, chat

TIMEOUT = 20.0
NOT_INITIALIZED, INVALID_REQUEST, INVALID_PARAMS, INTERNAL, PARSE = -32002, -32600, -32602, -32603, -32700
DEEP = 100_000


def frame(body: bytes) -> bytes:
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


class Wire:
    """The server process and a strict frame reader: anything on stdout that is not a frame fails the test."""

    def __init__(self, command: list[str], cwd: Path) -> None:
        self.proc = subprocess.Popen(
            command, cwd=cwd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.seen: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()
        self.stderr = b""
        self._err = threading.Thread(target=self._drain, daemon=True)
        self._err.start()

    def _drain(self) -> None:
        self.stderr = self.proc.stderr.read()

    def _read(self) -> None:
        stream = self.proc.stdout
        try:
            while True:
                header = b""
                while not header.endswith(b"\r\n\r\n"):
                    byte = stream.read(1)
                    if not byte:
                        self.messages.put(None)
                        return
                    header += byte
                fields = dict(line.split(": ", 1) for line in header.decode("ascii").strip().split("\r\n"))
                self.messages.put(json.loads(stream.read(int(fields["Content-Length"]))))
        except (OSError, ValueError):
            self.messages.put(None)

    def raw(self, body: bytes) -> None:
        self.proc.stdin.write(frame(body))
        self.proc.stdin.flush()

    def send(self, message: Any) -> None:
        self.raw(json.dumps(message).encode())

    def request(self, msg_id: int | str, method: str, params: Any = None) -> dict[str, Any]:
        self.send({"jsonrpc": "2.0", "id": msg_id, "method": method, "params": params})
        return self.answer(msg_id)

    def notify(self, method: str, params: Any = None) -> None:
        self.send({"jsonrpc": "2.0", "method": method, "params": params})

    def wait(self, predicate, timeout: float = TIMEOUT, *, seen: bool = False) -> dict[str, Any]:
        """The next message that matches (or, with `seen`, the first one already received)."""
        if seen:
            for message in self.seen:
                if predicate(message):
                    return message
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no such message within {timeout} s; seen: {self.seen[-5:]}")
            try:
                message = self.messages.get(timeout=left)
            except queue.Empty:
                continue
            assert message is not None, f"the server closed stdout; stderr: {self.stderr[-2000:]!r}"
            self.seen.append(message)
            if predicate(message):
                return message

    def answer(self, msg_id: int | str | None) -> dict[str, Any]:
        """The response to `msg_id` (server requests and notifications in between are skipped)."""
        return self.wait(lambda m: "method" not in m and m.get("id") == msg_id)

    def initialize(self, root: Path, **options: Any) -> dict[str, Any]:
        params = {"processId": None, "rootUri": root.as_uri(), "capabilities": {}, "initializationOptions": options}
        result = self.request("init", "initialize", params)
        self.notify("initialized", {})
        return result

    def exit_code(self, timeout: float = TIMEOUT) -> int:
        try:
            code = self.proc.wait(timeout=timeout)
        finally:
            self.close()
        return code

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            with contextlib.suppress(OSError):
                stream.close()
        self._err.join(5)


@pytest.fixture
def wire(tmp_path: Path):
    server = Wire(SERVER, tmp_path)
    yield server
    server.close()


def error_of(message: dict[str, Any]) -> dict[str, Any]:
    assert "error" in message, message
    error = message["error"]
    assert isinstance(error["message"], str) and error["message"].endswith("."), error
    assert "data" not in error or error["data"] is None, error  # no traceback travels to the client
    return error


def test_requests_before_initialize_get_server_not_initialized(wire: Wire, tmp_path: Path) -> None:
    hover = {"textDocument": {"uri": (tmp_path / "a.jsonl").as_uri()}, "position": {"line": 0, "character": 0}}
    assert error_of(wire.request(1, "textDocument/hover", hover))["code"] == NOT_INITIALIZED
    assert error_of(wire.request(2, "shutdown"))["code"] == NOT_INITIALIZED
    assert error_of(wire.request(3, "no/such/method", {}))["code"] == NOT_INITIALIZED
    # a notification before initialize is dropped: the document is not open afterwards
    item = {"uri": (tmp_path / "a.jsonl").as_uri(), "languageId": "jsonl", "version": 1, "text": chat("a", "b")}
    wire.notify("textDocument/didOpen", {"textDocument": item})
    init = wire.initialize(tmp_path)
    assert init["result"]["serverInfo"]["name"] == "tuneline"
    assert wire.request(4, "tuneline/summary", {"uri": item["uri"]})["result"] is None
    assert (
        error_of(wire.request(5, "initialize", {"processId": None, "rootUri": None, "capabilities": {}}))["code"]
        == INVALID_REQUEST
    )
    wire.request(6, "shutdown")
    wire.notify("exit")
    assert wire.exit_code() == 0


def test_malformed_messages_are_answered_and_the_server_goes_on(wire: Wire, tmp_path: Path) -> None:
    wire.initialize(tmp_path)
    uri = (tmp_path / "a.jsonl").as_uri()
    line = chat("a", "b").replace('"user"', '"usr"')
    wire.notify(
        "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "jsonl", "version": 1, "text": line}}
    )

    # no method: Invalid Request, with the request's id
    wire.send({"jsonrpc": "2.0", "id": 10, "params": {}})
    assert error_of(wire.answer(10))["code"] == INVALID_REQUEST
    # no "jsonrpc", a method that is not a string, an id that is an object, a batch, a bare number
    wire.send({"id": 11, "method": "textDocument/hover", "params": {}})
    assert error_of(wire.answer(11))["code"] == INVALID_REQUEST
    wire.send({"jsonrpc": "2.0", "id": 12, "method": 42})
    assert error_of(wire.answer(12))["code"] == INVALID_REQUEST
    for body in (b'{"jsonrpc": "2.0", "id": {"a": 1}, "method": "shutdown"}', b"[1, 2]", b"7", b'{"jsonrpc": "2.0"}'):
        wire.raw(body)
        assert error_of(wire.answer(None))["code"] == INVALID_REQUEST
    # params 100,000 levels deep: a parse error with the request's id (found before or after the params)
    deep = b"[" * DEEP + b"]" * DEEP
    wire.raw(b'{"jsonrpc": "2.0", "id": 13, "method": "textDocument/hover", "params": ' + deep + b"}")
    assert error_of(wire.answer(13))["code"] == PARSE
    wire.raw(
        b'{"jsonrpc": "2.0", "method": "workspace/executeCommand", "params": {"arguments": ' + deep + b'}, "id": "d"}'
    )
    assert error_of(wire.answer("d"))["code"] == PARSE
    # just under the parser's limit: a real answer (an error for hover's shape, a result for an unknown command...)
    nested = "[" * 900 + "]" * 900
    wire.raw(('{"jsonrpc": "2.0", "id": 14, "method": "textDocument/hover", "params": ' + nested + "}").encode())
    assert error_of(wire.answer(14))["code"] == INVALID_PARAMS
    command = {"command": "tuneline.stats", "arguments": json.loads(nested)}
    assert "error" in wire.request(15, "workspace/executeCommand", command)
    # invalid JSON and invalid UTF-8, answered with the id when it can be read
    wire.raw(b'{"jsonrpc": "2.0", "id": 16, "method": "textDocument/hover", "params": {"oops": }')
    assert error_of(wire.answer(16))["code"] == PARSE
    wire.raw(b'{"jsonrpc": "2.0", "id": 17, "method": "x", "params": "\xff\xfe"}')
    assert error_of(wire.answer(17))["code"] == PARSE
    # params of the wrong shape, an unknown method, a $/ request
    assert error_of(wire.request(18, "textDocument/hover", {"textDocument": 5}))["code"] == INVALID_PARAMS
    assert error_of(wire.request(19, "no/such/method", {}))["code"] == -32601
    assert error_of(wire.request(20, "$/unknown", {}))["code"] == -32601
    # notifications that make no sense are dropped without an answer and without a crash
    wire.notify("textDocument/didChange", {"textDocument": 5})
    wire.notify("$/cancelRequest", {"id": {"x": 1}})
    wire.notify("no/such/notification", [1, 2])
    # a code action whose diagnostic comes back with a mangled fix: answered (the fixes from the analysis)
    published = wire.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics", seen=True)
    diagnostic = next(d for d in published["params"]["diagnostics"] if d["code"] == "TL105")
    diagnostic["data"]["fix"]["edits"] = 5
    params = {"textDocument": {"uri": uri}, "range": diagnostic["range"], "context": {"diagnostics": [diagnostic]}}
    actions = wire.request(21, "textDocument/codeAction", params)
    assert "error" not in actions and any("TL105" in a["title"] for a in actions["result"])
    # the server is fine: a hover still answers
    hover = wire.request(
        22, "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 0, "character": 3}}
    )
    assert "result" in hover and hover["result"] is not None
    wire.request(23, "shutdown")
    wire.notify("exit")
    assert wire.exit_code() == 0
    assert b"RecursionError" not in wire.stderr  # caught where it happens, not somewhere up the stack


def test_after_shutdown_requests_get_invalid_request(wire: Wire, tmp_path: Path) -> None:
    wire.initialize(tmp_path)
    assert wire.request(1, "shutdown")["result"] is None
    assert error_of(wire.request(2, "textDocument/hover", {}))["code"] == INVALID_REQUEST
    assert error_of(wire.request(3, "shutdown"))["code"] == INVALID_REQUEST
    wire.notify("textDocument/didOpen", {})  # dropped
    wire.notify("exit")
    assert wire.exit_code() == 0


def test_exit_without_shutdown_exits_with_1(wire: Wire, tmp_path: Path) -> None:
    wire.initialize(tmp_path)
    wire.notify("exit")
    assert wire.exit_code() == 1


def test_exit_before_initialize_exits_with_1(wire: Wire) -> None:
    wire.notify("exit")
    assert wire.exit_code() == 1


def test_huge_content_length_is_skipped_and_answered(wire: Wire, tmp_path: Path) -> None:
    wire.initialize(tmp_path)
    # a header line without end and a frame that claims 2 GiB: the server reads neither into memory
    wire.proc.stdin.write(b"X-Noise: " + b"n" * 200_000 + b"\r\n")
    wire.proc.stdin.write(b"Content-Length: 2147483648\r\n\r\n")
    wire.proc.stdin.flush()
    assert error_of(wire.answer(None))["code"] == PARSE
    wire.proc.stdin.close()  # end of input in the middle of the skipped body: the server stops quietly
    assert wire.exit_code() == 0


FAILING_SERVER = textwrap.dedent(
    """
    import sys
    from tuneline.lsp.logs import setup_logging
    from tuneline.lsp.server import TunelineServer

    setup_logging()
    server = TunelineServer()

    @server.feature("tuneline/test/boom")
    def boom(ls, params):
        raise TypeError("unsupported operand type(s) for +: 'SECRET-INTERNAL' and 'int'")

    @server.feature("tuneline/test/boomNotification")
    def boom_notification(ls, params):
        raise KeyError("SECRET-NOTIFICATION")

    server.start_io()
    sys.exit(server.exit_code)
    """
)


def test_internal_errors_reach_the_client_as_one_generic_sentence(tmp_path: Path) -> None:
    """The real server with one extra handler that raises: the client sees a generic sentence, the log the rest."""
    wire = Wire([sys.executable, "-c", FAILING_SERVER], tmp_path)
    try:
        wire.initialize(tmp_path)
        error = error_of(wire.request(1, "tuneline/test/boom", {}))
        assert error["code"] == INTERNAL
        assert "SECRET" not in error["message"] and "TypeError" not in error["message"]
        assert "tuneline/test/boom" in error["message"] and "server log" in error["message"]
        wire.notify("tuneline/test/boomNotification", {})
        shown = wire.wait(lambda m: m.get("method") == "window/showMessage")
        assert "SECRET" not in shown["params"]["message"] and "KeyError" not in shown["params"]["message"]
        wire.request(2, "shutdown")
        wire.notify("exit")
        assert wire.exit_code() == 0
        for message in wire.seen:  # not in a response, a pop-up, or a log message to the client
            assert "SECRET" not in json.dumps(message)
        assert b"SECRET-INTERNAL" in wire.stderr and b"SECRET-NOTIFICATION" in wire.stderr  # the log has it
    finally:
        wire.close()
