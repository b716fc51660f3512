"""What the fake provider servers share (fake_providers.py: the fine-tuning APIs; fake_chat.py: chat completions):
a JSON handler that keeps test output clean, and a threading server on 127.0.0.1 run in a background thread.

`with Fake() as fake:` starts it and stops it; stopping takes at most one poll interval (50 ms), so the tests that
start a fake per test do not wait half a second each for `serve_forever` to notice."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    _lose_reply = False  # set per request: process it, then close the connection without answering

    @property
    def state(self) -> Any:
        return self.server.state  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _send(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
        if self._lose_reply:
            self.close_connection = True
            return
        data = b"" if payload is None else json.dumps(payload).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout test)
            self.close_connection = True


class FakeServer:
    """A `handler` class serving `state` on 127.0.0.1:`port` (0: any free port)."""

    handler: type[BaseHTTPRequestHandler] = JsonHandler

    def __init__(self, state: Any, port: int = 0) -> None:
        self.state = state
        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), self.handler)
        self.httpd.daemon_threads = True
        self.httpd.state = state  # type: ignore[attr-defined]
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def port(self) -> int:
        return self.httpd.server_address[1]

    def start(self) -> Any:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def __enter__(self) -> Any:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
