"""A seeded, bounded fuzz run through a real client (pytest-lsp) against the real server: thousands of random
incremental edits (CRLF, lone CR, U+2028, emoji and other surrogate pairs, broken JSON, duplicates, misspelled roles),
with requests at random positions in between (hover, code actions — some applied —, inlay hints, symbols, code lens,
pulled diagnostics, the summary). Every request must be answered with positions inside the document; at the end the
server's diagnostics must equal `tuneline check --format json` on the final text (code, line, column).

TUNELINE_FUZZ_SEED and TUNELINE_FUZZ_EDITS change the run (defaults: seed 2024, 2,000 edits, about 15 s here).
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from lsprotocol import types

from .helpers import CONFIG, Client, chat, start, utf16

pytestmark = pytest.mark.asyncio

SEED = int(os.environ.get("TUNELINE_FUZZ_SEED", "2024"))
EDITS = int(os.environ.get("TUNELINE_FUZZ_EDITS", "2000"))
REQUEST_EVERY = 4  # on average, one request per this many edits
MAX_CHARS = 6_000  # above this, edits lean towards deleting (keeps every step cheap and the run bounded)
MIN_CHARS = 2_500  # below this, towards inserting (a document of a few dozen lines, not one that withers away)
CHECKPOINTS = 3  # compare with `tuneline check` this many times along the way, and at the end
_BREAK = re.compile(r"\r\n|\r|\n")

PIECES = [
    "\n",
    "\r\n",
    "\r",
    "\u2028",
    "\u2029",
    "😀",
    "🎉",
    "𝔘",
    "é",
    "{",
    "}",
    "[",
    '"',
    ",",
    ":",
    " ",
    "\\",
    '"role": "usr"',
    '"role": "assitant"',
    "<|im_start|>",
    '"messages": []',
    "x" * 40,
    '{"instruction": "Say hi", "input": "", "output": "hi"}',
    '{"messages": [{"role": "user", "content": "a"}], "extra": 1}',
]


def lines_of(text: str) -> list[str]:
    return _BREAK.split(text)


def example(rng: random.Random) -> str:
    user = rng.choice(["Hi", "What is 2+2?", "Summarise 😀 this", "Line\u2028break", "Ünïcödé 🎉 text"])
    return chat(f"{user} {rng.randint(0, 30)}", rng.choice(["Hello!", "4", "Done. 𝔘", "Sure\u2028thing"]))


def piece(rng: random.Random, text: str) -> str:
    roll = rng.random()
    if roll < 0.25:
        return example(rng) + rng.choice(["\n", "\r\n", "\r", ""])
    if roll < 0.3 and text:
        return rng.choice(lines_of(text))  # a duplicate of a line (or of part of one)
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 3)))


def position(rng: random.Random, lines: list[str], line: int | None = None) -> tuple[int, int]:
    """A random position at a code point boundary (never inside a surrogate pair); sometimes past the line end,
    which client and server both clamp to the end."""
    if line is None:
        line = rng.randrange(len(lines))
    text = lines[line]
    if rng.random() < 0.05:
        return line, utf16(text) + rng.randint(1, 5)
    return line, utf16(text[: rng.randint(0, len(text))])


def inside(lines: list[str], pos: types.Position) -> bool:
    return 0 <= pos.line < len(lines) and 0 <= pos.character <= utf16(lines[pos.line])


def check_range(lines: list[str], rng: types.Range) -> None:
    assert inside(lines, rng.start) and inside(lines, rng.end), (rng, len(lines))


def random_edit(rng: random.Random, client: Client, uri: str) -> None:
    text = client.texts[uri]
    lines = lines_of(text)
    l1, c1 = position(rng, lines)
    if rng.random() < (0.7 if len(text) > MAX_CHARS else 0.35 if len(text) > MIN_CHARS else 0.15):  # delete a range
        l2, c2 = position(rng, lines, min(len(lines) - 1, l1 + rng.choice([0, 0, 0, 1, 2, 5])))
        new = "" if rng.random() < 0.6 else piece(rng, text)
    else:
        l2, c2, new = l1, c1, piece(rng, text)
    if (l2, c2) < (l1, c1):
        (l1, c1), (l2, c2) = (l2, c2), (l1, c1)
    client.edit(uri, l1, c1, l2, c2, new)


async def random_request(rng: random.Random, client: Client, uri: str, counts: Counter) -> None:
    lines = lines_of(client.texts[uri])
    doc = types.TextDocumentIdentifier(uri=uri)
    line, character = position(rng, lines)
    character = min(character, utf16(lines[line]))
    here = types.Position(line, character)
    end_line = min(len(lines) - 1, line + rng.randint(0, 10))
    span = types.Range(here, types.Position(end_line, utf16(lines[end_line])))
    kind = rng.choice(["hover", "codeAction", "inlayHint", "symbols", "codeLens", "diagnostic", "summary"])
    counts[kind] += 1
    if kind == "hover":
        hover = await client.text_document_hover_async(types.HoverParams(doc, here))
        if hover is not None and hover.range is not None:
            check_range(lines, hover.range)
    elif kind == "codeAction":
        diagnostics = await client.get_diagnostics(uri)
        context = types.CodeActionContext(diagnostics=[d for d in diagnostics if d.range.start.line == line])
        actions = await client.text_document_code_action_async(types.CodeActionParams(doc, span, context))
        for action in actions or []:
            for change in action.edit.document_changes or []:
                for edit in change.edits:
                    check_range(lines, edit.range)
        if actions and rng.random() < 0.5:  # apply one, as the user would (a versioned edit, then a full change)
            counts["applied"] += 1
            client.apply(rng.choice(actions).edit)
    elif kind == "inlayHint":
        for hint in await client.text_document_inlay_hint_async(types.InlayHintParams(doc, span)) or []:
            assert inside(lines, hint.position)
    elif kind == "symbols":
        for symbol in await client.text_document_document_symbol_async(types.DocumentSymbolParams(doc)) or []:
            check_range(lines, symbol.range)
    elif kind == "codeLens":
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(doc))
        assert lenses and "example" in lenses[0].command.title
    elif kind == "diagnostic":
        for diagnostic in await client.get_diagnostics(uri):
            check_range(lines, diagnostic.range)
    else:
        summary = await client.protocol.send_request_async("tuneline/summary", {"uri": uri})
        assert summary is not None


def cli_findings(path: Path) -> list[tuple[str, int, int]]:
    done = subprocess.run(
        [sys.executable, "-m", "tuneline", "check", "--format", "json", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode in (0, 1), done.stderr
    (report,) = json.loads(done.stdout)["files"]
    return sorted((d["code"], d["line"] or 1, d["column"] or 1) for d in report["diagnostics"])


def server_findings(text: str, diagnostics: list[types.Diagnostic]) -> list[tuple[str, int, int]]:
    """The server's diagnostics as the CLI reports them: 1-based lines, 1-based columns in code points."""
    lines = lines_of(text)
    out = []
    for d in diagnostics:
        line = lines[d.range.start.line]
        units, column = 0, 0
        while column < len(line) and units < d.range.start.character:
            units += 2 if ord(line[column]) > 0xFFFF else 1
            column += 1
        out.append((str(d.code), d.range.start.line + 1, column + 1))
    return sorted(out)


async def test_random_edits_and_requests_end_where_tuneline_check_does(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    client: Client = await CONFIG.start()  # type: ignore[assignment]
    started = time.monotonic()
    counts: Counter = Counter()
    try:
        await start(client, "pull", tmp_path)
        path = tmp_path / "fuzz.jsonl"
        uri = path.as_uri()
        client.open(uri, "".join(example(rng) + rng.choice(["\n", "\r\n", "\r"]) for _ in range(20)))
        for step in range(1, EDITS + 1):
            random_edit(rng, client, uri)
            if rng.randrange(REQUEST_EVERY) == 0:
                await asyncio.wait_for(random_request(rng, client, uri, counts), 30)
            if step % (EDITS // CHECKPOINTS) == 0 or step == EDITS:
                assert client.error is None
                final = client.texts[uri]
                ours = server_findings(final, await client.get_diagnostics(uri))
                path.write_bytes(final.encode("utf-8"))
                theirs = cli_findings(path)
                assert ours == theirs, f"seed {SEED}, edit {step}: the server and `tuneline check` differ"
                counts["compared"] += 1
    finally:
        await client.shutdown_session()
        await client.stop()
    assert counts["compared"] == CHECKPOINTS + (EDITS % CHECKPOINTS != 0)
    assert sum(counts.values()) - counts["applied"] - counts["compared"] >= EDITS // (REQUEST_EVERY * 2), counts
    print(
        f"fuzz seed {SEED}: {EDITS} edits, {dict(counts)}, {len(final)} chars in {len(lines_of(final))} lines, "
        f"{len(ours)} findings, {time.monotonic() - started:.1f} s"
    )
