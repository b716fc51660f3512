"""The wire: stdout carries only LSP frames, pygls's per-message logging is off, positions are UTF-16 whatever
the client offers, `$/cancelRequest` is honoured, and `--tcp` works (and refuses nonsense)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import queue
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcRequestCancelled

from .helpers import CONFIG, SERVER, chat, new_uri, start, utf16


def frame(message: dict) -> bytes:
    body = json.dumps(message).encode()
    return b"Content-Length: %d\r\n\r\n%s" % (len(body), body)


def read_frames(stream, out: queue.Queue) -> None:
    """Every message on `stream`, parsed strictly: anything but a well-formed frame is an error."""
    try:
        _read_frames(stream, out)
    except OSError:  # the peer went away
        out.put(None)


def _read_frames(stream, out: queue.Queue) -> None:
    while True:
        header = b""
        while not header.endswith(b"\r\n\r\n"):
            byte = stream.read(1)
            if not byte:
                out.put(None)
                return
            header += byte
        fields = dict(line.split(": ", 1) for line in header.decode("ascii").strip().split("\r\n"))
        body = stream.read(int(fields["Content-Length"]))
        out.put(json.loads(body))


def wait_message(messages: queue.Queue, predicate, timeout: float = 20.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        message = messages.get(timeout=max(0.01, deadline - time.monotonic()))
        assert message is not None, "the server closed stdout"
        if predicate(message):
            return message
    raise TimeoutError


def test_stdout_is_only_lsp_and_positions_are_utf16(tmp_path: Path) -> None:
    proc = subprocess.Popen(SERVER, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    messages: queue.Queue = queue.Queue()
    threading.Thread(target=read_frames, args=(proc.stdout, messages), daemon=True).start()
    try:
        caps = {"general": {"positionEncodings": ["utf-8", "utf-16"]}, "textDocument": {}}
        proc.stdin.write(
            frame(
                {
                    "jsonrpc": "2.0",
                    "id": 1,
                    "method": "initialize",
                    "params": {"processId": None, "rootUri": None, "capabilities": caps},
                }
            )
        )
        proc.stdin.flush()
        init = wait_message(messages, lambda m: m.get("id") == 1)
        assert init["result"]["capabilities"]["positionEncoding"] == "utf-16"
        assert init["result"]["capabilities"]["textDocumentSync"]["change"] == 2  # incremental
        line = '{"messages": [{"role": "user", "content": "😀\u2028x"}, {"role": "assitant", "content": "y"}]}'
        uri = (tmp_path / "a.jsonl").as_uri()
        item = {"uri": uri, "languageId": "jsonl", "version": 1, "text": line + "\n"}
        proc.stdin.write(frame({"jsonrpc": "2.0", "method": "initialized", "params": {}}))
        proc.stdin.write(frame({"jsonrpc": "2.0", "method": "textDocument/didOpen", "params": {"textDocument": item}}))
        proc.stdin.flush()
        published = wait_message(messages, lambda m: m.get("method") == "textDocument/publishDiagnostics")
        role = next(d for d in published["params"]["diagnostics"] if d["code"] == "TL105")
        assert role["range"]["start"] == {"line": 0, "character": utf16(line[: line.index('"assitant"')])}
        proc.stdin.write(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None}))
        proc.stdin.flush()
        wait_message(messages, lambda m: m.get("id") == 2)
        proc.stdin.write(frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
        proc.stdin.close()
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr = proc.stderr.read().decode()
    assert "Sending data" not in stderr  # pygls's per-message logging is off
    assert "Traceback" not in stderr


@pytest.mark.asyncio
async def test_cancel_request_is_honoured(tmp_path: Path) -> None:
    client = await CONFIG.start()
    try:
        await start(client, "pull", tmp_path, debounceMs=3000)
        uri = new_uri(tmp_path)
        client.open(uri, chat("a", "b"))
        await client.get_diagnostics(uri)  # the open is analysed at once
        client.edit(uri, 0, 0, 0, 0, " ")  # this edit waits for a 3 s debounce
        params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
        future = client.protocol.send_request(types.TEXT_DOCUMENT_DIAGNOSTIC, params, msg_id="cancel-me")
        await asyncio.sleep(0.2)
        started = time.monotonic()
        client.protocol.notify(types.CANCEL_REQUEST, types.CancelParams(id="cancel-me"))
        with pytest.raises(JsonRpcRequestCancelled):
            await asyncio.wait_for(asyncio.wrap_future(future), 2)
        assert time.monotonic() - started < 1.5
        # the server goes on answering
        hover = await client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri=uri), types.Position(0, 2))
        )
        assert hover is not None
    finally:
        await client.shutdown_session()
        await client.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_tcp_transport() -> None:
    port = _free_port()
    cmd = [sys.executable, "-m", "tuneline", "serve", "--tcp", f"127.0.0.1:{port}"]
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                conn = socket.create_connection(("127.0.0.1", port), timeout=5)
                break
            except OSError:
                assert time.monotonic() < deadline, "the server never listened"
                time.sleep(0.1)
        with conn:
            stream = conn.makefile("rb")
            messages: queue.Queue = queue.Queue()
            threading.Thread(target=read_frames, args=(stream, messages), daemon=True).start()
            init = {
                "jsonrpc": "2.0",
                "id": 1,
                "method": "initialize",
                "params": {"processId": None, "rootUri": None, "capabilities": {}},
            }
            conn.sendall(frame(init))
            result = wait_message(messages, lambda m: m.get("id") == 1)
            assert result["result"]["serverInfo"]["name"] == "tuneline"
            conn.sendall(frame({"jsonrpc": "2.0", "id": 2, "method": "shutdown", "params": None}))
            wait_message(messages, lambda m: m.get("id") == 2)
            conn.sendall(frame({"jsonrpc": "2.0", "method": "exit", "params": None}))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.stdout.read() == b""  # nothing on stdout in TCP mode either


def test_bad_tcp_address_is_a_usage_error() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "serve", "--tcp", "nonsense"], capture_output=True, text=True, timeout=30
    )
    assert done.returncode == 2
    assert "HOST:PORT" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.asyncio
async def test_a_request_with_malformed_params_gets_an_error_not_silence(tmp_path: Path) -> None:
    client = await CONFIG.start()
    try:
        await start(client, "pull", tmp_path)
        uri = new_uri(tmp_path)
        client.open(uri, chat("a", "b"))
        await client.get_diagnostics(uri)
        # a code action context with a diagnostic that has no range (what a careless client might send)
        params = {
            "textDocument": {"uri": uri},
            "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}},
            "context": {"diagnostics": [{"message": "no range", "code": "TL105"}]},
        }
        raw = {"jsonrpc": "2.0", "id": "bad-1", "method": types.TEXT_DOCUMENT_CODE_ACTION, "params": params}
        future: concurrent.futures.Future = concurrent.futures.Future()
        client.protocol._request_futures["bad-1"] = future  # so the client routes the answer here
        client.protocol._send_data(raw)
        with pytest.raises(Exception, match="parameters do not match"):
            await asyncio.wait_for(asyncio.wrap_future(future), 5)
        hover = await client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri=uri), types.Position(0, 2))
        )
        assert hover is not None
    finally:
        await client.shutdown_session()
        await client.stop()
