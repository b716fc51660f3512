"""The scheduler in-process: debounce, stale results dropped by version, and recovery from a failing analysis."""

from __future__ import annotations

import asyncio
import time

from lsprotocol import types

from tuneline.lsp.documents import Reset
from tuneline.lsp.scheduler import LARGE_FILE_LINES
from tuneline.lsp.server import TunelineServer

from .helpers import chat

URI = "file:///nonexistent/tuneline-test/data.jsonl"


def make_server() -> tuple[TunelineServer, list[tuple[int, int]]]:
    server = TunelineServer()
    server.scheduler.debounce = 0.05
    published: list[tuple[int, int]] = []
    server.publish = lambda doc, analysis: published.append((doc.version, len(analysis.findings)))  # type: ignore[method-assign]
    return server, published


def edit(server: TunelineServer, line: int, text: str) -> None:
    """What the didChange handler does: apply to the buffer now, queue the splice, restart the debounce."""
    doc = server.documents.get(URI)
    assert doc is not None
    doc.pending.append(doc.buffer.edit(line, 0, line, 0, text))
    doc.version += 1
    doc.edit_started.append(("change", doc.version, 0.0, time.perf_counter()))
    server.scheduler.changed(doc)


async def test_edits_within_the_debounce_make_one_analysis():
    server, published = make_server()
    doc = server.documents.open(URI, 1, "\n".join(chat(f"q{i}", "a") for i in range(12)))
    server.scheduler.changed(doc, 0)
    await server.scheduler.settled(doc, kick=False)
    assert published == [(1, 1)]  # TL304: few examples
    for _ in range(5):
        edit(server, 0, " ")
        await asyncio.sleep(0.005)
    analysis = await server.scheduler.settled(doc, kick=False)
    assert published == [(1, 1), (6, 1)]
    assert analysis.version == 6


async def test_a_result_that_edits_overtook_is_not_published():
    server, published = make_server()
    doc = server.documents.open(URI, 1, "\n".join(chat(f"q{i}", "a") for i in range(12)))
    real = server.scheduler._compute
    entered = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow(d, ops, version, *rest):
        loop.call_soon_threadsafe(entered.set)
        time.sleep(0.3)
        return real(d, ops, version, *rest)

    server.scheduler._compute = slow  # type: ignore[method-assign]
    server.scheduler.changed(doc, 0)
    await entered.wait()
    edit(server, 3, "{broken\n")  # arrives while version 1 is being analysed
    analysis = await server.scheduler.settled(doc, kick=False)
    assert [v for v, _ in published] == [2]  # version 1's result was never sent
    assert analysis.version == 2
    assert any(f.code == "TL001" and f.line == 3 for f in analysis.findings)


async def test_a_failing_analysis_is_retried_from_the_text_then_given_up():
    server, _ = make_server()
    doc = server.documents.open(URI, 1, "\n".join(chat(f"q{i}", "a") for i in range(12)))
    real = server.scheduler._compute
    calls: list[list] = []

    def flaky(d, ops, version, *rest):
        calls.append(ops)
        if len(calls) in (1, 3, 4):
            raise RuntimeError("boom")
        return real(d, ops, version, *rest)

    server.scheduler._compute = flaky  # type: ignore[method-assign]
    analysis = await server.scheduler.settled(doc)
    assert len(calls) == 2 and isinstance(calls[1][0], Reset)
    assert analysis is not None and analysis.findings

    edit(server, 0, "{bad\n")  # fails twice: the server gives up on this version, empty but alive
    analysis = await server.scheduler.settled(doc)
    assert analysis is not None and analysis.findings == [] and doc.dataset is None

    edit(server, 0, " ")  # the next edit rebuilds from the text
    analysis = await server.scheduler.settled(doc)
    assert isinstance(calls[-1][0], Reset)
    assert any(f.code == "TL001" and f.line == 0 for f in analysis.findings)
    assert doc.dataset is not None and doc.dataset.texts == doc.buffer.dataset_lines()


async def test_closing_a_document_releases_waiters():
    server, _ = make_server()
    server.scheduler.debounce = 10
    doc = server.documents.open(URI, 1, chat("q", "a"))
    server.scheduler.changed(doc, 0)
    await server.scheduler.settled(doc)
    edit(server, 0, " ")
    waiting = asyncio.ensure_future(server.scheduler.settled(doc, kick=False))
    await asyncio.sleep(0.05)
    server.documents.close(URI)
    server.scheduler.closed(doc)
    assert await asyncio.wait_for(waiting, 1) is None


def test_client_capabilities_decide_pull_or_push():
    server = TunelineServer()
    server.protocol.client_capabilities = types.ClientCapabilities(
        text_document=types.TextDocumentClientCapabilities(diagnostic=types.DiagnosticClientCapabilities())
    )
    assert server.pull_diagnostics
    server.protocol.client_capabilities = types.ClientCapabilities()
    assert not server.pull_diagnostics


async def test_early_diagnostics_only_for_the_lines_of_the_version_analysed():
    """A large document's first lines are published early (test_early_diagnostics.py) only when the lines analysed
    are the version's: an edit queued behind the open's Reset moves them, and the early set would be off."""
    server, _ = make_server()
    doc = server.documents.open(URI, 1, "\n".join(chat(f"q{i}", "a") for i in range(LARGE_FILE_LINES)))
    loop = asyncio.get_running_loop()
    assert server.scheduler._early(doc, list(doc.pending), 1, loop) is not None
    doc.pending.append(doc.buffer.edit(0, 0, 0, 0, "{broken\n"))
    assert server.scheduler._early(doc, list(doc.pending), 2, loop) is None
    small = server.documents.open(URI + "x", 1, "\n".join(chat(f"q{i}", "a") for i in range(100)))
    assert server.scheduler._early(small, list(small.pending), 1, loop) is None
