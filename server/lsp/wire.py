"""Reading LSP frames: our own loop instead of pygls's, so that no frame goes unanswered.

pygls's loop hands each body to `json.loads` and, when that fails (invalid JSON, or params nested deeper than
Python's recursion limit), only logs it: the client waits for an answer that never comes. Here a body that does not
parse is answered with a parse error carrying the request's id when it can be found at the top level of the text
(`request_id`), header lines are bounded, and a Content-Length over `MAX_BODY` is skipped unread (and answered).
Every parsed message goes to `TunelineProtocol.receive`, which checks its shape and the lifecycle.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import threading
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any, BinaryIO, Protocol

if TYPE_CHECKING:
    from .protocol import TunelineProtocol

log = logging.getLogger("tuneline.lsp.wire")

MAX_HEADER_LINE = 64 * 1024
MAX_BODY = 1024 * 1024 * 1024  # 1 GiB: far above what editors sync (VS Code stops syncing files at 50 MB)
PARSE_ERROR = -32700
_CONTENT_LENGTH = re.compile(rb"(?i)^content-length:[ \t]*(\d+)[ \t]*\r?\n?$")
# Top-level scanning without recursion: strings (unrolled, constant memory per match) and brackets.
_TOKENS = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"|[\[\]{}]', re.S)
_ID_VALUE = re.compile(r'\s*:\s*(-?\d{1,18}(?![\d.eE])|"[^"\\]*(?:\\.[^"\\]*)*")')


class Reader(Protocol):
    def readline(self) -> Awaitable[bytes]: ...

    def readexactly(self, n: int) -> Awaitable[bytes]: ...


class StdinReader:
    """stdin read on a worker thread, with bounded header lines (pygls's reader has no bound)."""

    def __init__(self, stdin: BinaryIO, executor: ThreadPoolExecutor | None) -> None:
        self.stdin = stdin
        self.executor = executor

    def readline(self) -> Awaitable[bytes]:
        return asyncio.get_running_loop().run_in_executor(self.executor, self.stdin.readline, MAX_HEADER_LINE)

    def readexactly(self, n: int) -> Awaitable[bytes]:
        return asyncio.get_running_loop().run_in_executor(self.executor, self.stdin.read, n)


class StreamReader:
    """An asyncio StreamReader (TCP) behind the same two calls; an over-long header line is cut, not fatal."""

    def __init__(self, stream: asyncio.StreamReader) -> None:
        self.stream = stream

    async def readline(self) -> bytes:
        try:
            return await self.stream.readline()
        except ValueError:  # longer than the stream's limit: drop what was buffered
            return await self.stream.read(MAX_HEADER_LINE) or b""

    async def readexactly(self, n: int) -> bytes:
        try:
            return await self.stream.readexactly(n)
        except asyncio.IncompleteReadError as exc:
            return exc.partial


def request_id(text: str) -> int | str | None:
    """The `id` member of the top-level object in `text` (JSON that may not parse), found without recursion."""
    depth = 0
    for match in _TOKENS.finditer(text):
        token = match.group()
        if token in "[{":
            depth += 1
        elif token in "]}":
            depth -= 1
        elif depth == 1 and token == '"id"':
            value = _ID_VALUE.match(text, match.end())
            if value is not None:
                try:
                    found = json.loads(value.group(1))
                except ValueError:
                    return None
                return found if isinstance(found, (int, str)) else None
    return None


async def _skip(reader: Reader, n: int) -> bool:
    """Read and drop `n` bytes in bounded chunks. False at end of input."""
    while n > 0:
        chunk = await reader.readexactly(min(n, 1 << 20))
        if not chunk:
            return False
        n -= len(chunk)
    return True


async def read_loop(
    stop: threading.Event,
    reader: Reader,
    protocol: TunelineProtocol,
    on_body_size: Callable[[int], None] | None = None,
) -> None:
    """Read frames until end of input (or `stop`) and hand each message to the protocol. `on_body_size` hears each
    body's size before it is read: a large document can start what its analysis needs while it arrives."""
    length: int | None = None
    while not stop.is_set():
        line = await reader.readline()
        if not line:
            return
        match = _CONTENT_LENGTH.match(line)
        if match:
            digits = match.group(1)
            length = int(digits) if len(digits) <= 18 else MAX_BODY + 1
            continue
        if line.strip():
            continue  # another header (Content-Type) or noise between frames
        if length is None:
            continue  # a blank line without a frame before it
        size, length = length, None
        if size > MAX_BODY:
            log.error("a message of %d bytes is over the %d-byte limit; skipped", size, MAX_BODY)
            protocol.reply_error(None, PARSE_ERROR, "The message is too large to read.")
            if not await _skip(reader, size):
                return
            continue
        if on_body_size is not None:
            on_body_size(size)
        body = await reader.readexactly(size)
        if len(body) < size:
            return  # end of input in the middle of a message
        try:
            handle_body(body, protocol)
        except Exception:  # never let one message stop the server
            log.exception("a message could not be handled")


def handle_body(body: bytes, protocol: TunelineProtocol) -> None:
    """Parse one body and pass it on; a body that does not parse is answered with a parse error."""
    try:
        text = body.decode("utf-8")
        data: Any = json.loads(text)
    except RecursionError:
        msg_id = request_id(body.decode("utf-8", "replace"))
        log.warning("a message nested too deeply to read (request %s): answered with an error", msg_id)
        protocol.reply_error(msg_id, PARSE_ERROR, "The message is nested too deeply to read.")
        return
    except ValueError as exc:  # invalid UTF-8 or invalid JSON
        msg_id = request_id(body.decode("utf-8", "replace"))
        log.warning("a message that is not valid JSON (request %s): %s", msg_id, exc)
        protocol.reply_error(msg_id, PARSE_ERROR, "The message is not valid JSON.")
        return
    protocol.receive(data)
