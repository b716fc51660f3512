"""`tuneline.stats` and `tuneline.fixAll` over workspace/executeCommand, with work-done progress."""

from __future__ import annotations

from dataclasses import replace

import pytest
from lsprotocol import types

from tuneline.analysis import FORMAT_TITLES, Engine, Settings
from tuneline.lsp.markdown import usd

from .helpers import chat, new_uri

pytestmark = pytest.mark.asyncio(loop_scope="module")
SYSTEM = "You are a helpful assistant."


def lines12() -> list[str]:
    lines = [chat(f"Question {i} 😀 " + "word " * (i * 5), f"Answer {i}.", SYSTEM) for i in range(11)]
    # Chinese text: cl100k_base (gpt-3.5) needs many more tokens for it than o200k_base
    return [*lines, chat("你好，世界！今天天气很好。我们去公园散步吧。😀🎉", "好的，我们走吧！", SYSTEM)]


async def run(client, command: str, *arguments):
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=command, arguments=list(arguments))
    )


def progress_kinds(client) -> list[list[str]]:
    return [[getattr(v, "kind", "") for v in values] for values in client.progress_reports.values()]


async def test_stats_markdown(client, workspace):
    uri = new_uri(workspace)
    lines = lines12()
    lines.insert(3, "")
    client.open(uri, "\n".join(lines) + "\n")
    client.progress_reports.clear()
    text = await run(client, "tuneline.stats", uri)
    assert text.startswith("## Dataset: ")
    assert "| lines | 13 |" in text
    assert "| examples | 12 |" in text
    assert f"| format | {FORMAT_TITLES['chat']} (12) |" in text
    assert "### Tokens per example" in text and "| 0-64 |" in text
    assert "### Roles" in text
    assert "| system | 12 |" in text and "| user | 12 |" in text and "| assistant | 12 |" in text
    assert "| problems | 0 errors, 2 warnings, 0 info, 0 hints |" in text  # the blank line, and few examples

    # cost per model: every model in the table, each with its own limit, epochs and encoding
    base = Engine(Settings())
    costs = text.split("### Cost per model", 1)[1]
    rows = {row.split(" | ")[0].strip("|* ").removesuffix("** (current)"): row for row in costs.splitlines()}
    for name in base.models.names():
        engine = Engine(replace(Settings(), model=name))
        tokens = [engine.analyze_line(line).tokens for line in lines if line]
        billed = sum(min(t, engine.model.limit) for t in tokens)
        cost = engine.cost(billed, len(tokens))
        row = rows[name.replace("_", "\\_")]
        assert row.endswith(f"| {engine.model.limit:,} | {cost.epochs} | {cost.billed_tokens:,} | {usd(cost.usd)} |")
    assert f"**{base.model.name}** (current)" in text
    assert rows["gpt-3.5-turbo-0125"].split(" | ")[3] != rows[base.model.name].split(" | ")[3]

    # work-done progress: begun and ended
    assert ["begin", *[], "end"] == [k for k in progress_kinds(client)[-1] if k != "report"]


async def test_stats_for_a_file_that_is_not_open(client, workspace):
    path = workspace / "on-disk.jsonl"
    path.write_text("\n".join(lines12()[:5]) + "\n", encoding="utf-8")
    text = await run(client, "tuneline.stats", {"uri": path.as_uri()})
    assert "| examples | 5 |" in text


async def test_fix_all_command_applies_through_the_client(client, workspace):
    uri = new_uri(workspace)
    lines = lines12()
    lines[2] = lines[2].replace('"role": "user"', '"role": "User"')
    lines.insert(5, "")
    lines.append(lines[0])
    client.open(uri, "\n".join(lines) + "\n")
    await client.get_diagnostics(uri)
    client.applied_edits.clear()
    count = await run(client, "tuneline.fixAll", uri)
    assert count == 3
    assert len(client.applied_edits) == 1
    assert client.texts[uri] == "\n".join(lines12()) + "\n"
    codes = {d.code for d in await client.get_diagnostics(uri)}
    assert not codes & {"TL003", "TL105", "TL301"}
    # nothing left to fix: no edit is sent
    assert await run(client, "tuneline.fixAll", uri) == 0
    assert len(client.applied_edits) == 1


async def test_bad_command_arguments_are_an_error_not_a_crash(client, workspace):
    with pytest.raises(Exception, match="URI"):
        await run(client, "tuneline.stats", 42)
    uri = new_uri(workspace)
    client.open(uri, chat("still", "alive"))
    assert await client.get_diagnostics(uri) is not None
