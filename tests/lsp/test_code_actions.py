"""Quick fixes and fix-all through a real server: each fix is a WorkspaceEdit the client applies to its own copy
of the text; the server then re-checks the edited text."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types

from .helpers import chat, new_uri, utf16

pytestmark = pytest.mark.asyncio(loop_scope="module")
SYSTEM = "You are a helpful assistant."


def base(n: int = 12) -> list[str]:
    return [chat(f"Question {i} 😀", f"Answer {i}.", SYSTEM) for i in range(n)]


async def open_doc(client, workspace, lines: list[str], trailing: str = "\n") -> tuple[str, list[types.Diagnostic]]:
    uri = new_uri(workspace)
    client.open(uri, "\n".join(lines) + trailing)
    return uri, await client.get_diagnostics(uri)


async def actions_for(client, uri, diagnostic: types.Diagnostic | None, rng=None, only=None, send_diagnostics=True):
    context = types.CodeActionContext(
        diagnostics=[diagnostic] if diagnostic and send_diagnostics else [],
        only=only,
    )
    params = types.CodeActionParams(
        text_document=types.TextDocumentIdentifier(uri=uri), range=rng or diagnostic.range, context=context
    )
    return await client.text_document_code_action_async(params) or []


def only_code(diagnostics, code):
    found = [d for d in diagnostics if d.code == code]
    assert found, f"no {code} in {[d.code for d in diagnostics]}"
    return found[0]


async def apply_action(client, uri, actions, title_start: str) -> types.CodeAction:
    chosen = [a for a in actions if a.title.startswith(title_start)]
    assert chosen, f"no action {title_start!r} in {[a.title for a in actions]}"
    action = chosen[0]
    client.apply(action.edit)
    return action


async def test_fix_a_misspelled_role(client, workspace):
    lines = base()
    lines[5] = lines[5].replace('"role": "assistant"', '"role": "assitant"')
    uri, diagnostics = await open_doc(client, workspace, lines)
    typo = only_code(diagnostics, "TL105")
    actions = await actions_for(client, uri, typo, only=[types.CodeActionKind.QuickFix])
    action = await apply_action(client, uri, actions, "Change role to 'assistant'")
    assert action.kind == types.CodeActionKind.QuickFix
    assert action.is_preferred
    assert client.texts[uri].split("\n")[5] == base()[5]
    assert not [d for d in await client.get_diagnostics(uri) if d.code == "TL105"]


async def test_delete_a_duplicate_and_a_blank_line(client, workspace):
    lines = base()
    lines[9] = lines[2]
    lines.insert(4, "   ")
    uri, diagnostics = await open_doc(client, workspace, lines)
    blank = only_code(diagnostics, "TL003")
    await apply_action(client, uri, await actions_for(client, uri, blank), "Delete blank line")
    diagnostics = await client.get_diagnostics(uri)
    dup = only_code(diagnostics, "TL301")
    assert dup.range.start.line == 9
    await apply_action(client, uri, await actions_for(client, uri, dup), "Delete duplicate line")
    expected = [line for i, line in enumerate(base()) if i != 9]
    assert client.texts[uri] == "\n".join(expected) + "\n"


async def test_delete_the_last_line_without_a_line_break(client, workspace):
    lines = base()
    lines.append(lines[0])
    uri, diagnostics = await open_doc(client, workspace, lines, trailing="")
    dup = only_code(diagnostics, "TL301")
    await apply_action(client, uri, await actions_for(client, uri, dup), "Delete duplicate line")
    assert client.texts[uri] == "\n".join(base())


async def test_remove_a_special_token(client, workspace):
    lines = base()
    lines[3] = chat("<|im_start|>user What is 2+2? 😀", "4", SYSTEM)
    uri, diagnostics = await open_doc(client, workspace, lines)
    token = only_code(diagnostics, "TL119")
    assert token.range.start.character == lines[3].index("<|im_start|>")
    actions = await actions_for(client, uri, token)
    action = await apply_action(client, uri, actions, "Remove <|im_start|>")
    assert not action.is_preferred  # not a "safe" fix: it changes the training text
    assert client.texts[uri].split("\n")[3] == chat("user What is 2+2? 😀", "4", SYSTEM)


async def test_add_the_common_system_prompt(client, workspace):
    lines = base()
    lines[7] = chat("No system here 😀", "Fine.", None)
    uri, diagnostics = await open_doc(client, workspace, lines)
    missing = next(d for d in diagnostics if d.code == "TL305" and d.range.start.line == 7)
    await apply_action(client, uri, await actions_for(client, uri, missing), "Add the file's common system prompt")
    fixed = json.loads(client.texts[uri].split("\n")[7])
    assert fixed["messages"][0] == {"role": "system", "content": SYSTEM}
    assert fixed["messages"][1]["content"] == "No system here 😀"
    assert not [d for d in await client.get_diagnostics(uri) if d.code == "TL305"]


async def test_convert_an_alpaca_line_to_chat(client, workspace):
    lines = base()
    lines[4] = json.dumps(
        {"instruction": "Translate to French 😀", "input": "cat", "output": "chat"}, ensure_ascii=False
    )
    uri, diagnostics = await open_doc(client, workspace, lines)
    mixed = only_code(diagnostics, "TL101")
    actions = await actions_for(client, uri, mixed)
    titles = [a.title for a in actions]
    convert = [a for a in actions if "onvert" in a.title]
    assert convert, titles
    client.apply(convert[0].edit)
    converted = json.loads(client.texts[uri].split("\n")[4])
    roles = [m["role"] for m in converted["messages"]]
    assert roles[-2:] == ["user", "assistant"]
    assert converted["messages"][-1]["content"] == "chat"
    assert "Translate to French 😀" in converted["messages"][-2]["content"]
    assert not [d for d in await client.get_diagnostics(uri) if d.code == "TL101"]


async def test_convert_refactor_in_an_alpaca_file(client, workspace):
    lines = [json.dumps({"instruction": f"Say {i}", "input": "", "output": str(i)}) for i in range(12)]
    uri, _ = await open_doc(client, workspace, lines)
    rng = types.Range(types.Position(3, 0), types.Position(3, 0))
    actions = await actions_for(client, uri, None, rng=rng, only=[types.CodeActionKind.RefactorRewrite])
    [action] = actions
    assert action.kind == types.CodeActionKind.RefactorRewrite
    assert action.title == "Convert this alpaca example to chat messages"
    client.apply(action.edit)
    assert json.loads(client.texts[uri].split("\n")[3])["messages"][-1] == {"role": "assistant", "content": "3"}


async def test_fixes_without_context_diagnostics(client, workspace):
    """Clients that send no diagnostics (or drop `data`) still get the fixes on the requested lines."""
    lines = base()
    lines[2] = lines[2].replace('"role": "user"', '"role": "usr"')
    uri, diagnostics = await open_doc(client, workspace, lines)
    typo = only_code(diagnostics, "TL105")
    actions = await actions_for(client, uri, typo, send_diagnostics=False)
    await apply_action(client, uri, actions, "Change role to 'user'")
    assert client.texts[uri].split("\n")[2] == base()[2]


async def test_a_stale_fix_is_not_offered(client, workspace):
    lines = base()
    lines[2] = lines[2].replace('"role": "user"', '"role": "usr"')
    uri, diagnostics = await open_doc(client, workspace, lines)
    typo = only_code(diagnostics, "TL105")
    # the user fixes the role by hand; the client still holds the old diagnostic
    start = lines[2].index('"usr"')
    client.edit(uri, 2, utf16(lines[2][:start]), 2, utf16(lines[2][: start + 5]), '"user"')
    actions = await actions_for(client, uri, typo)
    assert not [a for a in actions if "Change role" in a.title]


async def test_source_fix_all(client, workspace):
    lines = base()
    lines[1] = lines[1].replace('"role": "assistant"', '"role": "assistent"')
    lines[3] = lines[0]
    lines[4] = lines[0]
    lines.insert(6, "")
    lines[8] = chat("<|endoftext|> keep me", "ok", SYSTEM)
    uri, _ = await open_doc(client, workspace, lines)
    rng = types.Range(types.Position(0, 0), types.Position(0, 0))
    actions = await actions_for(client, uri, None, rng=rng, only=[types.CodeActionKind.SourceFixAll])
    [fix_all] = actions
    assert fix_all.kind == "source.fixAll.tuneline"
    assert fix_all.title == "Fix all safe tuneline problems (4)"
    client.apply(fix_all.edit)
    codes = {d.code for d in await client.get_diagnostics(uri)}
    assert not codes & {"TL003", "TL105", "TL301"}
    assert "TL119" in codes  # not safe: left for the user to decide
    # quick fixes are not offered as source actions, and fix-all only when asked for
    plain = await actions_for(client, uri, None, rng=rng)
    assert not [a for a in plain if a.kind == "source.fixAll.tuneline"]


async def test_fix_all_deletes_only_copies_equal_in_everything_that_trains(client, workspace):
    lines = base()
    same = json.loads(lines[2])
    weightless = json.loads(lines[2])
    weightless["messages"][-1]["weight"] = 0
    named = json.loads(lines[2])
    named["messages"][1]["name"] = "alice"
    lines += [json.dumps(weightless), json.dumps(named), json.dumps(same, indent=None, separators=(",", ":"))]
    uri, diagnostics = await open_doc(client, workspace, lines)
    assert [d.range.start.line for d in diagnostics if d.code == "TL301"] == [14]  # only the respelt copy
    rng = types.Range(types.Position(0, 0), types.Position(0, 0))
    [fix_all] = await actions_for(client, uri, None, rng=rng, only=[types.CodeActionKind.SourceFixAll])
    assert fix_all.title == "Fix all safe tuneline problems (1)"
    client.apply(fix_all.edit)
    assert client.texts[uri] == "\n".join(lines[:14]) + "\n"
    assert not [d for d in await client.get_diagnostics(uri) if d.code == "TL301"]


async def test_the_editor_shows_the_first_thousand_of_a_code_and_fix_all_still_fixes_every_one(client, workspace):
    """A problem on every line of a big file: the server publishes the first 1,000 of each code and a note with the
    count (every keystroke would otherwise rebuild and send them all); fix-all and the statistics still see all."""
    lines = [
        json.dumps({"messages": [{"role": "user", "content": f"q{i}"}, {"role": "assitant", "content": "An answer."}]})
        for i in range(1005)
    ]
    uri, diagnostics = await open_doc(client, workspace, lines)
    assert len([d for d in diagnostics if d.code == "TL105"]) == 1001  # 1,000 and the note
    assert [d.range.start.line for d in diagnostics if d.code == "TL105"][-1] == 999
    [note] = [d for d in diagnostics if d.code == "TL105" and "times" in d.message]
    assert note.message.startswith("TL105 is reported 1,005 times in this file; the editor shows the first 1,000.")
    assert note.severity == types.DiagnosticSeverity.Information and note.range.start.line == 0
    stats = await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tuneline.stats", arguments=[uri])
    )
    assert "| problems | 2,010 errors," in stats  # TL105 and TL110 on every line, not the 2,000 shown
    rng = types.Range(types.Position(0, 0), types.Position(0, 0))
    [fix_all] = await actions_for(client, uri, None, rng=rng, only=[types.CodeActionKind.SourceFixAll])
    assert fix_all.title == "Fix all safe tuneline problems (1005)"
    client.apply(fix_all.edit)
    after = await client.get_diagnostics(uri)
    assert not [d for d in after if d.code in ("TL105", "TL110")]
