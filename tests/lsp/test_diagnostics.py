"""Diagnostics through a real server, for a pull client and a push client: exact UTF-16 ranges, rule links,
related information, incremental edits (including ones that change file-level findings), odd line breaks."""

from __future__ import annotations

import json

import pytest
from lsprotocol import types

from tuneline.analysis import RULES

from .helpers import chat, new_uri, utf16

pytestmark = pytest.mark.asyncio(loop_scope="module")

ROLE_TYPO = json.dumps(
    {
        "messages": [
            {"role": "system", "content": "You are a helpful assistant."},
            {"role": "user", "content": "😀😀 Où est la gare ? 🚉"},
            {"role": "assitant", "content": "Tout droit."},
        ]
    },
    ensure_ascii=False,
)


def twelve() -> list[str]:
    return [chat(f"Question {i} 😀", f"Answer {i}.") for i in range(12)]


def by_code(diagnostics: list[types.Diagnostic], code: str) -> list[types.Diagnostic]:
    return [d for d in diagnostics if d.code == code]


async def test_finding_has_source_code_link_severity_and_utf16_range(client, workspace):
    uri = new_uri(workspace)
    lines = [*twelve(), ROLE_TYPO]
    client.open(uri, "\n".join(lines) + "\n")
    diagnostics = await client.get_diagnostics(uri)
    [role] = by_code(diagnostics, "TL105")
    column = ROLE_TYPO.index('"assitant"')
    assert utf16(ROLE_TYPO[:column]) > column  # the emoji before it count twice in UTF-16
    assert role.range == types.Range(
        types.Position(12, utf16(ROLE_TYPO[:column])), types.Position(12, utf16(ROLE_TYPO[: column + 10]))
    )
    assert role.source == "tuneline"
    assert role.severity == types.DiagnosticSeverity.Error
    assert role.code_description is not None
    assert role.code_description.href == RULES["TL105"].url
    assert role.code_description.href.endswith("#tl105-unknown-role")
    assert "did you mean 'assistant'" in role.message
    # the fix travels with the diagnostic
    assert role.data["fix"]["edits"] == [[utf16(ROLE_TYPO[:column]), utf16(ROLE_TYPO[: column + 10]), '"assistant"']]


async def test_u2028_inside_a_string_does_not_shift_lines(client, workspace):
    uri = new_uri(workspace)
    lines = twelve()
    lines[3] = chat("first\u2028second\u2029third\x85fourth", "ok")
    lines[7] = '{"messages": [}'
    client.open(uri, "\n".join(lines) + "\n")
    diagnostics = await client.get_diagnostics(uri)
    [bad] = by_code(diagnostics, "TL001")
    assert bad.range.start.line == 7
    assert bad.range.start.character == lines[7].index("}")


async def test_duplicate_points_at_its_first_copy(client, workspace):
    uri = new_uri(workspace)
    lines = twelve()
    lines[9] = lines[2]
    client.open(uri, "\n".join(lines))
    diagnostics = await client.get_diagnostics(uri)
    [dup] = by_code(diagnostics, "TL301")
    assert dup.range.start.line == 9
    assert dup.range.end == types.Position(9, utf16(lines[9]))
    [related] = dup.related_information
    assert related.location.uri == uri
    assert related.location.range.start.line == 2
    assert related.message == "first copy"


async def test_two_open_files_with_the_same_duplicate_each_point_at_themselves(client, workspace):
    """The server caches diagnostics' JSON across documents: a copy of a file must not point at the original."""
    lines = twelve()
    lines[9] = lines[2]
    first, copy = new_uri(workspace, "a"), new_uri(workspace, "copy")
    for uri in (first, copy):
        client.open(uri, "\n".join(lines))
        [dup] = by_code(await client.get_diagnostics(uri), "TL301")
        assert dup.related_information[0].location.uri == uri


async def test_edits_update_line_and_file_findings(client, workspace):
    uri = new_uri(workspace)
    lines = twelve()[:9]  # nine examples: too few for OpenAI (TL303)
    client.open(uri, "\n".join(lines) + "\n")
    diagnostics = await client.get_diagnostics(uri)
    assert by_code(diagnostics, "TL303") and not by_code(diagnostics, "TL001")

    # break line 4 after its emoji: delete the closing brace (UTF-16 positions)
    end = utf16(lines[4])
    client.edit(uri, 4, end - 1, 4, end, "")
    diagnostics = await client.get_diagnostics(uri)
    [bad] = by_code(diagnostics, "TL001")
    assert bad.range.start.line == 4

    # put it back, and paste three copies of line 0 at the top: 12 examples, and duplicates of the (moved) first
    client.edit(uri, 4, end - 1, 4, end - 1, "}")
    client.edit(uri, 0, 0, 0, 0, (lines[0] + "\n") * 3)
    diagnostics = await client.get_diagnostics(uri)
    assert not by_code(diagnostics, "TL001")
    assert not by_code(diagnostics, "TL303")
    dups = by_code(diagnostics, "TL301")
    assert sorted(d.range.start.line for d in dups) == [1, 2, 3]
    assert {d.related_information[0].location.range.start.line for d in dups} == {0}

    # delete the copies again: the duplicates go
    client.edit(uri, 0, 0, 3, 0, "")
    diagnostics = await client.get_diagnostics(uri)
    assert not by_code(diagnostics, "TL301")


async def test_crlf_and_lone_cr_documents(client, workspace):
    uri = new_uri(workspace)
    lines = twelve()
    lines[5] = "{oops"
    client.open(uri, "\r\n".join(lines[:6]) + "\r" + "\n".join(lines[6:]))
    diagnostics = await client.get_diagnostics(uri)
    assert [d.range.start.line for d in by_code(diagnostics, "TL001")] == [5]
    # a \r\n typed in the middle of line 2 splits it into two (broken) lines
    middle = len(lines[2]) // 2
    client.edit(uri, 2, middle, 2, middle, "\r\n")
    diagnostics = await client.get_diagnostics(uri)
    assert sorted(d.range.start.line for d in by_code(diagnostics, "TL001")) == [2, 3, 6]


async def test_full_document_change(client, workspace):
    uri = new_uri(workspace)
    client.open(uri, "\n".join(twelve()))
    assert not by_code(await client.get_diagnostics(uri), "TL003")
    client.replace_all(uri, "\n".join([*twelve(), "", *twelve()[:1]]))
    diagnostics = await client.get_diagnostics(uri)
    assert [d.range.start.line for d in by_code(diagnostics, "TL003")] == [12]


async def test_file_level_findings_sit_at_the_start(client, workspace):
    uri = new_uri(workspace)
    client.open(uri, chat("a", "b"))
    diagnostics = await client.get_diagnostics(uri)
    [few] = by_code(diagnostics, "TL303")
    assert few.range == types.Range(types.Position(0, 0), types.Position(0, 0))


async def test_pull_result_id_and_unchanged_report(client, workspace):
    if client.mode != "pull":
        pytest.skip("pull clients only")
    uri = new_uri(workspace)
    client.open(uri, "\n".join(twelve()))
    params = types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
    first = await client.text_document_diagnostic_async(params)
    assert isinstance(first, types.RelatedFullDocumentDiagnosticReport) and first.result_id
    params.previous_result_id = first.result_id
    again = await client.text_document_diagnostic_async(params)
    assert isinstance(again, types.RelatedUnchangedDocumentDiagnosticReport)
    assert again.result_id == first.result_id


async def test_close_clears_pushed_diagnostics(client, workspace):
    if client.mode != "push":
        pytest.skip("push clients only")
    uri = new_uri(workspace)
    client.open(uri, "{bad")
    assert await client.get_diagnostics(uri)
    client.close(uri)
    for _ in range(200):
        if client.published[uri].diagnostics == [] and client.published[uri].version is None:
            break
        import asyncio

        await asyncio.sleep(0.01)
    assert client.published[uri].diagnostics == []


async def test_a_leaked_api_key_is_underlined_in_the_editor(client, workspace):
    """TL401 through the server: the realistic key shapes the CLI finds, at the same UTF-16 range."""
    key = "tgp_v1_" + "Qz8rLw2NvX5kT1pYb7HcD0sJmA4eGuF9iR6oWn3VyZq"
    uri = new_uri(workspace)
    lines = twelve()
    lines[4] = chat("😀 my key is " + key, "Thanks, I will not store it.")
    client.open(uri, "\n".join(lines) + "\n")
    [secret] = by_code(await client.get_diagnostics(uri), "TL401")
    start = lines[4].index(key)
    assert secret.range == types.Range(
        types.Position(4, utf16(lines[4][:start])), types.Position(4, utf16(lines[4][: start + len(key)]))
    )
