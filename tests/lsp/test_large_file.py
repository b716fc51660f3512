"""A file over the parallel threshold is analysed by workers started from the server's forkserver (the server
itself must never fork), and its diagnostics equal `tuneline check`'s: same codes on the same lines."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.analysis.parallel import MIN_BYTES_FOR_WORKERS

from .helpers import chat, new_uri


def _big(path: Path) -> str:
    answer = "A long enough answer about refunds and billing. " * 10
    lines = [chat(f"Question number {i}?", f"{answer}#{i}") for i in range(9000)]
    lines[4500] = '{"messages": [{"role": "assitant", "content": "x"}]}'  # TL105 in the middle
    lines[-1] = "{broken"  # TL001 at the end
    text = "\n".join(lines) + "\n"
    assert len(text) > MIN_BYTES_FOR_WORKERS
    path.write_text(text, encoding="utf-8")
    return text


@pytest.mark.asyncio(loop_scope="module")
async def test_a_large_file_gets_checks_diagnostics(client, workspace):
    uri = new_uri(workspace, "big")
    path = Path(uri.removeprefix("file://"))
    text = _big(path)
    client.open(uri, text)
    diags = await client.get_diagnostics(uri)
    got = sorted({(d.range.start.line, str(d.code)) for d in diags})
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    report = json.loads(done.stdout)
    # the editor shows a file-level finding (no line) on the first line
    want = sorted({((d["line"] or 1) - 1, d["code"]) for f in report["files"] for d in f["diagnostics"]})
    assert (4500, "TL105") in got and (8999, "TL001") in got
    assert got == want


def test_the_forkserver_preload_imports_and_loads_the_encoding():
    """multiprocessing ignores a preload module that fails to import, so a broken one would only show as slower
    opens: import it here, in a fresh interpreter, and see the encoding loaded."""
    code = (
        "import tuneline.lsp.worker_preload, sys;"
        "from tuneline.analysis.tokens import _loaded;"
        "print(sorted(_loaded), 'pygls' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    # the tokenizer (rs-bpe's or tiktoken's) is loaded; nothing of the server (stdin reader) came with it
    assert out == ["['o200k_base']", "False"]


def test_a_large_message_warms_the_workers_while_it_arrives():
    """The reader hears each body's size before reading it; a body the size of a large document starts the
    forkserver at once, so the open's analysis does not wait for it (#14)."""
    code = """
import asyncio, threading, time
from multiprocessing import forkserver
from tuneline.lsp import workers, wire

sizes = []
class Protocol:
    def receive(self, data): pass
stream = asyncio.StreamReader
async def main():
    reader = asyncio.StreamReader()
    body = b'{"jsonrpc": "2.0", "method": "x"}'
    reader.feed_data(b"Content-Length: %d\\r\\n\\r\\n%s" % (len(body), body))
    reader.feed_eof()
    await wire.read_loop(threading.Event(), wire.StreamReader(reader), Protocol(), sizes.append)
asyncio.run(main())
workers.warm_up(sizes[0])
assert not workers._warmed, "a small message warmed the workers"
workers.warm_up(workers.MIN_BYTES_FOR_WORKERS)
deadline = time.time() + 60
while forkserver._forkserver._forkserver_pid is None and time.time() < deadline:
    time.sleep(0.05)
print(sizes, forkserver._forkserver._forkserver_pid is not None)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.split() == ["[33]", "True"], out.stderr
