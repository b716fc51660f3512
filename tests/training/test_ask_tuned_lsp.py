""" "Ask the tuned model" through the real `tuneline serve` process (pytest-lsp) against the chat-completions fake
(real OpenAI SDK, in the server's request process): the lens appears on each example of a held-out file of a
finished run started here and on nothing else, nothing is sent until the command runs, and then exactly one
request goes out; runs not started here, bad arguments, a rate limit and an untrusted workspace are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from lsprotocol import types
from pygls.exceptions import JsonRpcException

from tuneline.lsp.trust import REFUSED

from .conftest import plant_run, write_lines
from .fake_chat import OPENAI_KEY, TUNED, FakeChat, finished_run, held_out_lines
from .lsp_client import command, serve

ASK = "tuneline.askTuned"


@pytest.fixture
def held_out(project: Path, run: Path) -> Path:
    return project / "val.jsonl"


@pytest.fixture
async def lsp(chat, project):
    client = await serve(project)
    yield client
    await client.shutdown_session()


def open_file(client, path: Path) -> str:
    uri = path.as_uri()
    client.open(uri, path.read_text(encoding="utf-8"))
    return uri


async def ask_lenses(client, uri: str) -> list[types.CodeLens]:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return [lens for lens in lenses or [] if lens.command and lens.command.command == ASK]


async def ask(client, *arguments):
    return await command(client, ASK, *arguments)


async def test_the_lens_asks_the_tuned_model_once_per_click(lsp, project: Path, held_out: Path, chat: FakeChat):
    uri = open_file(lsp, held_out)
    lenses = await ask_lenses(lsp, uri)
    assert [lens.range.start.line for lens in lenses] == list(range(8))  # one on each example
    assert {lens.command.title for lens in lenses} == {"Ask the tuned model"}
    assert list(lenses[3].command.arguments) == [{"uri": uri, "line": 4}]
    other = await lsp.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=open_file(lsp, project / "data.jsonl")))
    )
    assert other and not [lens for lens in other if lens.command.command == ASK]  # not held out: summary lens only
    assert chat.state.requests == []  # showing lenses sends nothing

    # Line 4 ("Question 3") is the one the tuned model gets wrong: the answer is shown next to the reference.
    result = await ask(lsp, *lenses[3].command.arguments)
    assert result["ok"], result
    assert result["model"] == TUNED and result["run"] == "20261130-120000-openai-e7a1a1" and result["line"] == 4
    assert result["answer"] == "Open settings." and result["reference"] and result["reference"] != result["answer"]
    assert result["completionTokens"] is not None and result["error"] is None
    assert [r["model"] for r in chat.state.requests] == [TUNED]  # exactly one request, to the tuned model only
    shown = [m.message for m in lsp.messages if m.message.startswith("Tuned model")]
    assert len(shown) == 1 and "Open settings." in shown[0] and result["reference"] in shown[0]
    assert OPENAI_KEY not in json.dumps(result)

    # A tool-call example, for a client with its own panel (show: false): returned, not shown as a message.
    calls = await ask(lsp, {"uri": uri, "line": 7, "show": False})
    assert calls["ok"] and calls["toolCalls"] and calls["toolCalls"][0]["name"] == "get_weather"
    assert calls["toolCalls"] == calls["referenceToolCalls"]
    assert len([m for m in lsp.messages if m.message.startswith("Tuned model")]) == 1
    assert len(chat.state.requests) == 2

    # The example as the editor shows it, unsaved edits included.
    edited = json.loads(held_out.read_text(encoding="utf-8").splitlines()[0])
    edited["messages"][-2]["content"] = "Question 3: edited in the editor"
    lsp.text_document_did_change(
        types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=uri, version=2),
            content_changes=[
                types.TextDocumentContentChangePartial(
                    range=types.Range(types.Position(0, 0), types.Position(1, 0)), text=json.dumps(edited) + "\n"
                )
            ],
        )
    )
    changed = await ask(lsp, {"uri": uri, "line": 1, "show": False})
    assert changed["ok"] and changed["answer"] == "Open settings."  # the tuned fake's answer to "Question 3…"
    assert chat.state.requests[-1]["user"] == "Question 3: edited in the editor"


async def test_a_rate_limit_is_reported_without_a_retry(lsp, held_out: Path, chat: FakeChat):
    uri = open_file(lsp, held_out)
    chat.state.inject(TUNED, status=429, times=1, headers={"Retry-After": "0"})
    result = await ask(lsp, {"uri": uri, "line": 1})
    assert result["ok"] is False and result["answer"] is None and "rate-limit" in result["error"]
    assert len(chat.state.requests) == 1  # one click, one request
    assert any("gave no answer on line 1" in m.message for m in lsp.messages)
    again = await ask(lsp, {"uri": uri, "line": 1, "show": False})
    assert again["ok"] and len(chat.state.requests) == 2


async def test_files_of_runs_not_started_here_and_bad_arguments(lsp, project: Path, chat: FakeChat):
    lines, _ = held_out_lines()
    planted = write_lines(project / "planted.jsonl", [*lines, "{not json", '{"text": "plain"}'])
    plant_run(
        project, project / "data.jsonl", status="succeeded", result_model=TUNED, validation={"path": str(planted)}
    )
    uri = open_file(lsp, planted)
    assert await ask_lenses(lsp, uri) == []
    refused = await ask(lsp, {"uri": uri, "line": 1})
    assert (
        refused["ok"] is False
        and "not the held-out file of a finished hosted run you started here" in refused["refused"]
    )
    assert any(m.message.startswith("Ask the tuned model: planted.jsonl") for m in lsp.messages)

    held_out = write_lines(project / "val.jsonl", [*lines, "{not json", '{"text": "plain"}'])
    finished_run(project, held_out)
    val = open_file(lsp, held_out)
    assert len(await ask_lenses(lsp, val)) == 8  # no lens on the broken line or the text line
    for args, words in (
        ([], "expected [{uri, line"),
        ([{"uri": val, "line": "1"}], "expected [{uri, line"),
        ([{"uri": val, "line": 9, "show": False}], "line 9 is not valid JSON"),
        ([{"uri": val, "line": 10, "show": False}], "a text line has no prompt and answer"),
        ([{"uri": val, "line": 99, "show": False}], "the file has no line 99"),
        ([{"uri": (project / "closed.jsonl").as_uri(), "line": 1}], "open the held-out file first"),
    ):
        bad = await ask(lsp, *args)
        assert bad["ok"] is False and words in bad["refused"], (args, bad)
    assert chat.state.requests == []


async def test_untrusted_workspace_shows_no_lens_and_refuses(project: Path, held_out: Path, chat: FakeChat):
    client = await serve(project, trusted=False)
    try:
        uri = open_file(client, held_out)
        assert await ask_lenses(client, uri) == []
        with pytest.raises(JsonRpcException) as refused:
            await ask(client, {"uri": uri, "line": 1})
        assert str(refused.value.message).startswith(REFUSED)
        assert chat.state.requests == []
    finally:
        await client.shutdown_session()
