"""The client's pipes belong to the protocol (`stdio_guard.py`): the real `tuneline serve` process, with a thread
that keeps printing to stdout, writing to descriptor 1 and starting child processes that print and read stdin,
while the server publishes diagnostics far larger than a pipe's buffer. The strict frame reader of
`test_protocol_abuse` fails on any byte that is not part of a frame; the stray text must end up in the log."""

from __future__ import annotations

import json
import sys
import textwrap
from pathlib import Path

from .helpers import chat
from .test_protocol_abuse import Wire

NOISY_SERVER = textwrap.dedent(
    """
    import os, subprocess, sys, threading, time
    from tuneline.cli import main

    go = sys.argv[1]  # the test creates it once `initialize` is answered: the server is serving by then

    def noise():
        while not os.path.exists(go):
            time.sleep(0.005)
        while True:
            print('stray print {"jsonrpc": "2.0"}', flush=True)
            os.write(1, b"stray bytes on descriptor 1\\r\\n\\r\\n")
            code = "import sys; print('a child process prints'); sys.stdin.read()"
            subprocess.run([sys.executable, "-c", code], timeout=30)
            time.sleep(0.005)

    threading.Thread(target=noise, daemon=True).start()
    sys.exit(main(["serve", "--stdio"]))
    """
)


def test_stray_output_never_reaches_the_client(tmp_path: Path) -> None:
    go = tmp_path / "go"
    wire = Wire([sys.executable, "-c", NOISY_SERVER, str(go)], tmp_path)
    try:
        wire.initialize(tmp_path)
        go.touch()
        # 3,000 answers with a trailing space: ~3,000 diagnostics, a message of about a megabyte
        text = "".join(chat(f"Question {i}?", f"Answer {i}. ") + "\n" for i in range(3000))
        uri = (tmp_path / "data.jsonl").as_uri()
        for version in (1, 2, 3):
            if version == 1:
                wire.notify(
                    "textDocument/didOpen",
                    {"textDocument": {"uri": uri, "languageId": "jsonl", "version": 1, "text": text}},
                )
            else:
                change = {"range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}}
                wire.notify(
                    "textDocument/didChange",
                    {"textDocument": {"uri": uri, "version": version}, "contentChanges": [{**change, "text": "\n"}]},
                )
            published = wire.wait(
                lambda m, v=version: (
                    m.get("method") == "textDocument/publishDiagnostics" and m["params"].get("version") == v
                ),
                timeout=30,
            )
            codes = [d["code"] for d in published["params"]["diagnostics"]]
            assert codes.count("TL503") >= 1000, codes[:5]
            assert len(json.dumps(published)) > 256 * 1024  # far more than a pipe holds at once
        hover = wire.request(
            7, "textDocument/hover", {"textDocument": {"uri": uri}, "position": {"line": 5, "character": 3}}
        )
        assert "result" in hover, hover
        wire.request(8, "shutdown")
        wire.notify("exit")
        assert wire.exit_code() == 0
        assert b"stray print" in wire.stderr and b"stray bytes on descriptor 1" in wire.stderr
        assert b"a child process prints" in wire.stderr
    finally:
        wire.close()


def test_a_server_started_without_stderr_keeps_its_pipes(tmp_path: Path) -> None:
    """Descriptor 2 closed at start (a client that gives the server no stderr): the server still serves while the
    noise goes on (descriptor 1 then points at the null device; the protocol's own copies are numbered 3 and up, so
    they never take the free 2 that descriptor 1 would be pointed at)."""
    go = tmp_path / "go"
    script = "import os, sys\nos.close(2)\nsys.argv[1:] = [sys.argv[1]]\n" + NOISY_SERVER
    wire = Wire([sys.executable, "-c", script, str(go)], tmp_path)
    try:
        wire.initialize(tmp_path)
        go.touch()
        uri = (tmp_path / "data.jsonl").as_uri()
        text = "".join(chat(f"Question {i}?", f"Answer {i}. ") + "\n" for i in range(500))
        wire.notify(
            "textDocument/didOpen", {"textDocument": {"uri": uri, "languageId": "jsonl", "version": 1, "text": text}}
        )
        published = wire.wait(lambda m: m.get("method") == "textDocument/publishDiagnostics", timeout=30)
        assert [d["code"] for d in published["params"]["diagnostics"]].count("TL503") == 500
        wire.request(8, "shutdown")
        wire.notify("exit")
        assert wire.exit_code() == 0
    finally:
        wire.close()
