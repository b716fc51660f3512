"""Hover, inlay hints, code lens and document symbols through a real server (pull and push clients)."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types

from tuneline.analysis import RULES, Engine, Settings
from tuneline.analysis.models import auto_epochs
from tuneline.lsp.markdown import usd

from .helpers import chat, new_uri, utf16

pytestmark = pytest.mark.asyncio(loop_scope="module")

ENGINE = Engine(Settings())


def doc_id(uri: str) -> types.TextDocumentIdentifier:
    return types.TextDocumentIdentifier(uri=uri)


def sample() -> list[str]:
    lines = [chat(f"Question {i}: how do I reset my password?", f"Open settings, step {i}.") for i in range(11)]
    lines[2] = chat("😀 emoji first\u2028then a line separator", "Sure 🎉")
    lines[4] = ""  # a blank line: not an example
    lines[6] = json.dumps(
        {"messages": [{"role": "user", "content": "😀 hi"}, {"role": "assitant", "content": "hello"}]},
        ensure_ascii=False,
    )
    return lines


async def open_sample(client, workspace) -> tuple[str, list[str]]:
    uri = new_uri(workspace)
    lines = sample()
    client.open(uri, "\n".join(lines) + "\n")
    await client.get_diagnostics(uri)
    return uri, lines


async def test_hover_shows_the_example_tokens_and_cost(client, workspace):
    uri, lines = await open_sample(client, workspace)
    hover = await client.text_document_hover_async(types.HoverParams(doc_id(uri), types.Position(2, 3)))
    assert hover is not None
    text = hover.contents.value
    result = ENGINE.analyze_line(lines[2])
    # example 3 is on line 3 (the blank line comes later)
    assert "**Example 3** (line 3)" in text
    for i, message in enumerate(result.messages, 1):
        assert f"| {i} | {message.role} | {message.tokens:,} |" in text
    examples = sum(1 for line in lines if line)
    epochs = auto_epochs(examples)
    cost = ENGINE.cost(result.tokens, examples)
    assert f"**{result.tokens:,} tokens** · billed {result.tokens:,} × {epochs} epochs" in text
    assert f"{cost.billed_tokens:,} tokens" in text
    assert ENGINE.model.name in text
    assert "Truncated" not in text
    assert hover.range == types.Range(types.Position(2, 0), types.Position(2, utf16(lines[2])))

    # after the blank line, numbering counts examples, not lines
    later = await client.text_document_hover_async(types.HoverParams(doc_id(uri), types.Position(8, 0)))
    assert "**Example 8** (line 9)" in later.contents.value


async def test_hover_over_a_finding_explains_the_rule(client, workspace):
    uri, lines = await open_sample(client, workspace)
    column = utf16(lines[6][: lines[6].index('"assitant"')]) + 3  # inside the role, after an emoji
    hover = await client.text_document_hover_async(types.HoverParams(doc_id(uri), types.Position(6, column)))
    text = hover.contents.value
    assert "**TL105** · unknown-role" in text
    assert RULES["TL105"].explanation in text
    assert RULES["TL105"].url in text
    start = utf16(lines[6][: lines[6].index('"assitant"')])
    assert hover.range == types.Range(types.Position(6, start), types.Position(6, start + len('"assitant"')))
    # a blank line is not an example, but its finding explains itself
    blank = await client.text_document_hover_async(types.HoverParams(doc_id(uri), types.Position(4, 0)))
    assert "TL003" in blank.contents.value


async def test_hover_past_the_end_is_empty(client, workspace):
    uri, lines = await open_sample(client, workspace)
    hover = await client.text_document_hover_async(types.HoverParams(doc_id(uri), types.Position(len(lines) + 5, 0)))
    assert hover is None


async def test_inlay_hints_only_for_the_requested_range(client, workspace):
    uri, lines = await open_sample(client, workspace)
    rng = types.Range(types.Position(1, 0), types.Position(4, 0))
    hints = await client.text_document_inlay_hint_async(types.InlayHintParams(doc_id(uri), rng))
    # lines 1..4: three examples and the blank line
    assert [h.position.line for h in hints] == [1, 2, 3]
    hint = hints[1]
    assert hint.position.character == utf16(lines[2])
    assert hint.label == f"· {ENGINE.analyze_line(lines[2]).tokens:,} tok"
    assert hint.padding_left


async def test_code_lens_summarises_the_file(client, workspace):
    uri, lines = await open_sample(client, workspace)
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(doc_id(uri)))
    summary = lenses[0]
    examples = [line for line in lines if line]
    tokens = sum(ENGINE.analyze_line(line).tokens for line in examples)
    cost = ENGINE.cost(sum(ENGINE.analyze_line(line).tokens for line in examples), len(examples))
    assert summary.range.start == types.Position(0, 0)
    assert summary.command.title == (
        f"{len(examples)} examples · {tokens:,} tokens · ≈ {usd(cost.usd)} for {cost.epochs} epochs on {cost.model}"
    )
    assert summary.command.command == "tuneline.stats"
    assert list(summary.command.arguments) == [uri]
    train = [lens for lens in lenses if lens.command.command == "tuneline.train"]
    commands = client.server_commands  # what the server announced at initialize
    if "tuneline.train" in commands:
        assert train[0].command.title == "Train on this file…"
        assert list(train[0].command.arguments) == [{"uri": uri}]
    else:
        assert not train

    # the lens follows edits: delete two examples
    client.edit(uri, 0, 0, 2, 0, "")
    lenses = await client.text_document_code_lens_async(types.CodeLensParams(doc_id(uri)))
    assert lenses[0].command.title.startswith(f"{len(examples) - 2} examples")


async def test_summary_request(client, workspace):
    uri, lines = await open_sample(client, workspace)
    result = await client.protocol.send_request_async("tuneline/summary", {"uri": uri})
    summary = result._asdict() if hasattr(result, "_asdict") else result
    examples = [line for line in lines if line]
    tokens = sum(ENGINE.analyze_line(line).tokens for line in examples)
    cost = ENGINE.cost(tokens, len(examples))
    assert summary == {
        "examples": len(examples),
        "lines": len(lines),
        "tokens": tokens,
        "billedTokens": cost.billed_tokens,
        "costUsd": cost.usd,
        "model": cost.model,
        "epochs": cost.epochs,
        "target": {"provider": "openai", "model": cost.model, "method": "sft"},
        "tokensExact": True,
    }
    assert await client.protocol.send_request_async("tuneline/summary", {"uri": uri + ".not-open"}) is None


async def test_document_symbols_one_per_example(client, workspace):
    uri, lines = await open_sample(client, workspace)
    symbols = await client.text_document_document_symbol_async(types.DocumentSymbolParams(doc_id(uri)))
    assert len(symbols) == 10  # eleven lines, one blank
    assert symbols[0].name == "#1 user: Question 0: how do I reset my password?"
    assert [s.range.start.line for s in symbols][:5] == [0, 1, 2, 3, 5]
    assert symbols[4].name.startswith("#5 user: Question 5")
    assert symbols[2].range.end == types.Position(2, utf16(lines[2]))
    assert symbols[2].kind == types.SymbolKind.Object
