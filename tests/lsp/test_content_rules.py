"""Issue 13's content rules in the editor: ranges on the offending words (UTF-16), the rule's page, the
explanation on hover, and the safe trim through a code action."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types

from tuneline.analysis import RULES

from .helpers import apply_text_edits, chat, new_uri, utf16

pytestmark = pytest.mark.asyncio(loop_scope="module")


def lines_with(i: int, line: str) -> list[str]:
    lines = [chat(f"Question {n} 😀", f"Answer {n}.") for n in range(12)]
    lines[i] = line
    return lines


async def test_a_placeholder_is_underlined_and_explained(client, workspace):
    uri = new_uri(workspace, "placeholder")
    lines = lines_with(3, chat("Who are you? 😀", "I am 😀 {{name}}, your assistant."))
    client.open(uri, "\n".join(lines) + "\n")
    [slot] = [d for d in await client.get_diagnostics(uri) if d.code == "TL501"]
    start = lines[3].index("{{name}}")
    assert slot.range == types.Range(
        types.Position(3, utf16(lines[3][:start])), types.Position(3, utf16(lines[3][: start + len("{{name}}")]))
    )
    assert slot.code_description is not None and slot.code_description.href == RULES["TL501"].url
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri=uri), slot.range.start)
    )
    assert hover is not None and isinstance(hover.contents, types.MarkupContent)
    assert "Unfilled template slot {{name}}" in hover.contents.value
    assert RULES["TL501"].explanation[:60] in hover.contents.value


async def test_trailing_whitespace_is_trimmed_by_its_code_action(client, workspace):
    uri = new_uri(workspace, "whitespace")
    lines = lines_with(5, chat("Sum? 😀", "It is 72.\n\n"))
    text = "\n".join(lines) + "\n"
    client.open(uri, text)
    [ws] = [d for d in await client.get_diagnostics(uri) if d.code == "TL503"]
    assert ws.severity == types.DiagnosticSeverity.Information
    actions = await client.text_document_code_action_async(
        types.CodeActionParams(
            types.TextDocumentIdentifier(uri=uri), ws.range, types.CodeActionContext(diagnostics=[ws])
        )
    )
    [trim] = [a for a in actions or [] if isinstance(a, types.CodeAction) and a.title.startswith("Trim the answer")]
    assert trim.edit is not None and trim.edit.document_changes
    [change] = trim.edit.document_changes
    assert isinstance(change, types.TextDocumentEdit) and change.text_document.uri == uri
    fixed = apply_text_edits(text, list(change.edits))
    assert json.loads(fixed.splitlines()[5])["messages"][2]["content"] == "It is 72."
