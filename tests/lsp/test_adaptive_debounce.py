"""The debounce adapts to the analysis cost: a cheap edit's diagnostics arrive well before the old fixed 150 ms
debounce, a burst of changes still publishes only its final version, and an expensive document's bursts still
coalesce into one analysis. The first two through a real client against the real server, with the server's own
debounce (no `debounceMs`); the last in-process, where the analysis can be made slow on purpose."""

from __future__ import annotations

import asyncio
import statistics
import time
from pathlib import Path
from typing import Any

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from tuneline.analysis import Dataset
from tuneline.lsp.scheduler import DEBOUNCE_FLOOR_SECONDS, DEBOUNCE_SECONDS
from tuneline.lsp.server import TunelineServer

from .helpers import SERVER, RecordingClient, chat, make_client, new_uri, record_publish, start

LINES = 3000  # big enough that an analysis costs something real, small enough for CI
OLD_DEBOUNCE_MS = 150
BOUND_MS = 110  # the median edit → diagnostics; the old debounce alone was 150 ms, the new one ~20-30 ms here


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=lambda: make_client(RecordingClient, record_publish))


def dataset(lines: int) -> str:
    """Chat examples with an exact duplicate every 500 lines, so every publish carries a few diagnostics."""
    out = [chat(f"question {i}: how do I reset my password?", f"answer {i}: open the settings.") for i in range(lines)]
    for i in range(499, lines, 500):
        out[i] = out[i - 1]
    return "\n".join(out) + "\n"


async def published(client: RecordingClient, version: int, timeout: float = 20) -> float:
    """When the diagnostics of `version` arrived (polling finely: the latency itself is what is measured)."""
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        for got, at, _ in client.publishes:
            if got == version:
                return at
        await asyncio.sleep(0.001)
    raise TimeoutError(f"no diagnostics for version {version}")


def broken_at(client: RecordingClient, version: int) -> set[int]:
    """Lines with a JSON syntax finding (TL001) in the diagnostics published for `version`."""
    return {d.range.start.line for v, _, ds in client.publishes if v == version for d in ds if d.code == "TL001"}


@pytest.fixture
async def client(tmp_path: Path):
    client = await CONFIG.start()
    await start(client, "push", tmp_path, debounceMs=None)  # the server's own debounce, as editors get it
    try:
        yield client
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_a_one_line_edit_publishes_well_before_the_old_debounce(client: RecordingClient, tmp_path: Path):
    uri = new_uri(tmp_path)
    client.open(uri, dataset(LINES))
    await published(client, 1, timeout=60)
    latencies = []
    for i in range(12):
        line = 10 + 7 * i
        client.edit(uri, line, 1, line, 1, " ")  # a one-line edit, like a keystroke
        sent = time.perf_counter()  # written by now; the client's own bookkeeping of its text is not timed
        latencies.append((await published(client, client.versions[uri]) - sent) * 1000)
        await asyncio.sleep(0.05)
    assert statistics.median(latencies) < BOUND_MS < OLD_DEBOUNCE_MS, latencies
    # the server's side of it: the debounce followed the measured cost, from the first edit after the open on
    timings = await client.protocol.send_request_async("tuneline/debugTimings", {})
    debounces = [t["debounceMs"] for t in timings["timings"] if t["kind"] == "change"]
    assert len(debounces) == 12 and max(debounces) < OLD_DEBOUNCE_MS, debounces
    assert min(debounces) >= DEBOUNCE_FLOOR_SECONDS * 1000, debounces


async def test_a_burst_publishes_only_its_final_version(client: RecordingClient, tmp_path: Path):
    uri = new_uri(tmp_path)
    text = dataset(LINES)
    client.open(uri, text)
    await published(client, 1, timeout=60)
    for line in (10, 20, 30):  # a few edits alone first, so the debounce has adapted to this document
        client.edit(uri, line, 1, line, 1, " ")
        await published(client, client.versions[uri])
    lines = client.texts[uri].split("\n")
    changes = []  # each change breaks a line's JSON (drops its opening brace), the next one mends it
    for line in range(200, 210):
        changes.append((line, 0, 1, ""))
        if line < 209:
            changes.append((line, 0, 0, "{"))
    for line, c1, c2, new in changes:
        lines[line] = lines[line][:c1] + new + lines[line][c2:]
    before = len(client.publishes)
    first = client.versions[uri] + 1
    final = first + len(changes) - 1
    for version, (line, c1, c2, new) in enumerate(changes, first):  # sent back to back, like a fast typist
        client.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=version),
                [
                    types.TextDocumentContentChangePartial(
                        range=types.Range(types.Position(line, c1), types.Position(line, c2)), text=new
                    )
                ],
            )
        )
    client.texts[uri], client.versions[uri] = "\n".join(lines), final
    await published(client, final)
    await asyncio.sleep(0.3)  # anything late (a stale version) would arrive now
    versions = [v for v, _, _ in client.publishes[before:]]
    assert versions == [final], f"versions {first}..{final} were sent; published {versions}"
    assert broken_at(client, final) == {209}  # the diagnostics are the final text's
    duplicates = {d.range.start.line for v, _, ds in client.publishes if v == final for d in ds if d.code != "TL001"}
    assert {499, 999}.issubset(duplicates)


# --- in-process: the delay itself ---------------------------------------------------------------------------------
URI = "file:///nonexistent/tuneline-test/adaptive.jsonl"


def in_process(monkeypatch: pytest.MonkeyPatch, findings_seconds: float) -> tuple[TunelineServer, list[int]]:
    """A server whose analyses take `findings_seconds` more in the part every edit repeats (the file's findings):
    an expensive document, on purpose."""
    server = TunelineServer()
    published: list[int] = []
    server.publish = lambda doc, analysis: published.append(doc.version)  # type: ignore[method-assign]
    real = Dataset.findings

    def slow(self: Dataset, *args: Any, **kwargs: Any) -> list:
        time.sleep(findings_seconds)
        return real(self, *args, **kwargs)

    monkeypatch.setattr(Dataset, "findings", slow)
    return server, published


def type_key(server: TunelineServer) -> None:
    """What the didChange handler does with one keystroke."""
    doc = server.documents.get(URI)
    assert doc is not None
    doc.pending.append(doc.buffer.edit(0, 1, 0, 1, " "))
    doc.version += 1
    doc.edit_started.append(("change", doc.version, 0.0, time.perf_counter()))
    server.scheduler.changed(doc)


async def test_an_expensive_document_still_coalesces_a_burst(monkeypatch: pytest.MonkeyPatch):
    server, published = in_process(monkeypatch, 0.06)  # 3 × 60 ms is over the ceiling: the full 150 ms
    doc = server.documents.open(URI, 1, "\n".join(chat(f"q{i}", "a") for i in range(12)))
    server.scheduler.changed(doc, 0)
    await server.scheduler.settled(doc, kick=False)
    assert server.scheduler.delay(doc) == DEBOUNCE_SECONDS
    for _ in range(5):  # keys 60 ms apart: each within the debounce of the one before
        type_key(server)
        await asyncio.sleep(0.06)
    await server.scheduler.settled(doc, kick=False)
    assert published == [1, 6]


async def test_a_cheap_document_waits_the_floor_and_a_fixed_debounce_is_kept(monkeypatch: pytest.MonkeyPatch):
    server, _ = in_process(monkeypatch, 0)
    doc = server.documents.open(URI, 1, chat("q", "a"))
    assert server.scheduler.delay(doc) == DEBOUNCE_SECONDS  # nothing measured yet
    server.scheduler.changed(doc, 0)
    await server.scheduler.settled(doc, kick=False)
    assert server.scheduler.delay(doc) == DEBOUNCE_FLOOR_SECONDS
    server.scheduler.debounce = 0.5  # the client's debounceMs wins over the measured cost
    assert server.scheduler.delay(doc) == 0.5


async def test_the_debounce_follows_the_cost_in_between(monkeypatch: pytest.MonkeyPatch):
    server, _ = in_process(monkeypatch, 0.025)
    doc = server.documents.open(URI, 1, chat("q", "a"))
    server.scheduler.changed(doc, 0)
    await server.scheduler.settled(doc, kick=False)
    assert 3 * 0.025 <= server.scheduler.delay(doc) < DEBOUNCE_SECONDS
