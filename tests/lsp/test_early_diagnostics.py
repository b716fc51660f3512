"""A large file's first lines get their diagnostics while the rest of it is analysed (#14): through a real client
against the real server, the first publication for the opened version holds the problems at the top and no
file-level verdict, and the last one is the complete report, the same as `tuneline check` gives, with nothing
published after it."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lsprotocol import types
from pytest_lsp import ClientServerConfig

from tuneline.analysis import Dataset, Engine
from tuneline.analysis.config import Settings
from tuneline.analysis.parallel import MIN_BYTES_FOR_WORKERS
from tuneline.lsp.early_diagnostics import EarlyDiagnostics
from tuneline.lsp.scheduler import LARGE_FILE_LINES

from .helpers import SERVER, RecordingClient, chat, make_client, new_uri, record_publish, start

CONFIG = ClientServerConfig(server_command=SERVER, client_factory=lambda: make_client(RecordingClient, record_publish))
LINES = LARGE_FILE_LINES + 4_000
TOP, BOTTOM, DUPLICATE = 2, LINES - 1_000, 20_000


def big_file(path: Path) -> str:
    answer = "A long enough answer about refunds, billing and the invoices they send. " * 3
    lines = [chat(f"Question number {i}?", f"{answer}#{i}") for i in range(LINES)]
    lines[TOP] = '{"messages": [{"role": "assitant", "content": "x"}]}'  # TL105 in the first chunk
    lines[DUPLICATE] = lines[5]  # TL301: a file-level verdict, known only once both lines are in
    lines[BOTTOM] = "{broken"  # TL001 in the last chunk: only the complete report has it
    text = "\n".join(lines) + "\n"
    assert len(text) > MIN_BYTES_FOR_WORKERS
    path.write_text(text, encoding="utf-8")
    return text


@pytest.fixture
async def client(tmp_path: Path):
    client = await CONFIG.start()
    await start(client, "push", tmp_path)
    try:
        yield client
    finally:
        await client.shutdown_session()
        await client.stop()


def codes(diagnostics: list[types.Diagnostic]) -> set[tuple[int, str]]:
    return {(d.range.start.line, str(d.code)) for d in diagnostics}


async def test_the_top_of_a_large_file_is_shown_before_the_rest_is_analysed(client: RecordingClient, tmp_path: Path):
    uri = new_uri(tmp_path, "big")
    path = Path(uri.removeprefix("file://"))
    client.open(uri, big_file(path))
    deadline = time.monotonic() + 120
    while not any((BOTTOM, "TL001") in codes(ds) for v, _, ds in client.publishes if v == 1):
        assert time.monotonic() < deadline, "no complete report"
        await asyncio.sleep(0.02)
    await asyncio.sleep(1.0)  # anything published after the complete report would arrive meanwhile
    mine = [(at, ds) for v, at, ds in client.publishes if v == 1]
    assert len(mine) >= 2, "the first lines were not published before the rest"
    (first_at, first), (last_at, last) = mine[0], mine[-1]
    assert (TOP, "TL105") in codes(first)
    for _, early in mine[:-1]:
        got = {code for _, code in codes(early)}
        assert "TL001" not in got and "TL301" not in got, "an early publication held more than line findings"
    assert (BOTTOM, "TL001") in codes(last) and any(code == "TL301" for _, code in codes(last))

    report = json.loads(
        subprocess.run(
            [sys.executable, "-m", "tuneline", "check", "--format", "json", str(path)],
            capture_output=True,
            text=True,
            timeout=300,
        ).stdout
    )
    want = {((d["line"] or 1) - 1, d["code"]) for f in report["files"] for d in f["diagnostics"]}
    assert codes(last) == want  # the last publication is the complete report, not an early one arriving late
    assert first_at < last_at


def test_lines_that_cannot_be_judged_one_by_one_wait_for_the_whole_file():
    """Pretty-printed records and JSON array files get no early diagnostics: their per-line errors wait for the
    file-level verdict (TL006 and its cap), which needs the whole file."""
    engine = Engine(Settings())
    pretty = Dataset(engine)
    pretty.splice(0, 0, ["{", '  "messages": []', "}", "{"])
    assert pretty.line_findings_so_far(100) is None
    array = Dataset(engine)
    array.splice(0, 0, ["[", chat("q", "a") + ","])
    assert array.line_findings_so_far(100) is None
    lines = Dataset(engine)
    lines.splice(0, 0, [chat("q", "a"), "{broken"])
    assert [(f.line, f.code) for f in lines.line_findings_so_far(100) or []] == [(1, "TL001")]


def test_a_clean_file_is_looked_at_once_a_second_not_once_a_chunk():
    """Each look walks every line analysed so far: looking after every chunk of a clean file would make the open
    quadratic in its length (the reviewer measured 2.5 s extra at 300k lines)."""

    class Clean:
        texts = ()
        looks = 0

        def line_findings_so_far(self, per_code: int) -> list:
            Clean.looks += 1
            return []

    published: list[str] = []
    loop = asyncio.new_event_loop()
    early = EarlyDiagnostics(300_000, 1000, lambda f, texts: "{}", published.append, loop)
    for done in range(1_000, 300_000, 1_000):
        early(Clean(), done)  # type: ignore[arg-type]
    loop.close()
    assert Clean.looks == 1 and published == []
