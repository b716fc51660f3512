"""No input stops the server: hypothesis drives random documents and random edits (odd bytes, lone surrogates,
huge lines, CRLF and lone CR mixes, U+2028, emoji, positions past the end) through a real client, and checks
after every step that the server still answers and that every position it sends lies inside the document."""

from __future__ import annotations

import asyncio
import json
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lsprotocol import types

from .helpers import CONFIG, Client, apply_text_edits, chat, lsp_lines, start, utf16

pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # big generated texts

HUGE = json.dumps({"messages": [{"role": "user", "content": "😀" * 30_000}]}, ensure_ascii=False)
ODD = st.sampled_from(
    [
        "\n",
        "\r\n",
        "\r",
        "\u2028",
        "\u2029",
        "\x85",
        "\x0c",
        "😀",
        "🎉",
        "é",
        "\ud800",
        "\udfff",
        "\ufeff",
        '"',
        "{",
        "}",
    ]
)
PIECE = st.one_of(
    st.text(max_size=20),
    ODD,
    st.binary(max_size=30).map(lambda b: b.decode("utf-8", "surrogateescape")),
    st.builds(chat, st.text(max_size=20), st.text(max_size=20)),
    st.just(HUGE),
    st.just('{"instruction": "Say hi", "input": "", "output": "hi"}'),
    st.just("<|im_start|>"),
)
TEXT = st.lists(PIECE, max_size=12).map("".join)
EDIT = st.tuples(st.integers(0, 12), st.integers(0, 80), st.integers(0, 12), st.integers(0, 80), TEXT)


@pytest.fixture(scope="module", params=["pull", "push"])
def session(request, tmp_path_factory):
    loop = asyncio.new_event_loop()
    root = tmp_path_factory.mktemp("robust")
    client: Client = loop.run_until_complete(CONFIG.start())  # type: ignore[assignment]
    loop.run_until_complete(start(client, request.param, root))
    yield loop, client, root
    loop.run_until_complete(client.shutdown_session())
    loop.run_until_complete(client.stop())
    loop.close()


def inside(text: str, position: types.Position) -> bool:
    lines = lsp_lines(text)
    return 0 <= position.line < len(lines) and 0 <= position.character <= utf16(lines[position.line])


def check_range(text: str, rng: types.Range) -> None:
    assert inside(text, rng.start), (rng, len(lsp_lines(text)))
    assert inside(text, rng.end), (rng, len(lsp_lines(text)))
    assert (rng.start.line, rng.start.character) <= (rng.end.line, rng.end.character)


_uris = iter(range(1_000_000))


async def scenario(client: Client, root, initial: str, edits: list, probes: list[tuple[int, int]]) -> None:
    uri = (root / f"r{next(_uris)}.jsonl").as_uri()
    doc = types.TextDocumentIdentifier(uri=uri)
    client.open(uri, initial)
    try:
        for l1, c1, l2, c2, new in edits:
            lines = lsp_lines(client.texts[uri])
            # clients send positions inside the document; a few past the end test the server's clamping
            if l1 < len(lines) + 1 and l2 < len(lines) + 1:
                client.edit(uri, l1, c1, l2, c2, new)
        text = client.texts[uri]
        lines = lsp_lines(text)
        diagnostics = await client.get_diagnostics(uri)
        for d in diagnostics:
            check_range(text, d.range)
            for info in d.related_information or []:
                check_range(text, info.location.range)
        for line, character in probes:
            position = types.Position(
                min(line, len(lines) - 1), min(character, utf16(lines[min(line, len(lines) - 1)]))
            )
            hover = await client.text_document_hover_async(types.HoverParams(doc, position))
            if hover is not None:
                check_range(text, hover.range)
        everything = types.Range(types.Position(0, 0), types.Position(len(lines) - 1, utf16(lines[-1])))
        for hint in await client.text_document_inlay_hint_async(types.InlayHintParams(doc, everything)) or []:
            assert inside(text, hint.position)
            assert hint.position.character == utf16(lines[hint.position.line])  # the server's line = ours
        for symbol in await client.text_document_document_symbol_async(types.DocumentSymbolParams(doc)) or []:
            check_range(text, symbol.range)
            assert symbol.range.end.character == utf16(lines[symbol.range.end.line])
        actions = await client.text_document_code_action_async(
            types.CodeActionParams(doc, everything, types.CodeActionContext(diagnostics=diagnostics))
        )
        for action in actions or []:
            for change in action.edit.document_changes or []:
                for edit in change.edits:
                    check_range(text, edit.range)
                apply_text_edits(text, list(change.edits))
        lenses = await client.text_document_code_lens_async(types.CodeLensParams(doc))
        assert lenses and "example" in lenses[0].command.title
    finally:
        client.close(uri)


@given(
    initial=TEXT,
    edits=st.lists(EDIT, max_size=6),
    probes=st.lists(st.tuples(st.integers(0, 15), st.integers(0, 200)), max_size=3),
)
@settings(
    max_examples=int(os.environ.get("TUNELINE_FUZZ_EXAMPLES", "50")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
    print_blob=False,
)
def test_random_documents_and_edits(session, initial, edits, probes):
    loop, client, root = session
    loop.run_until_complete(asyncio.wait_for(scenario(client, root, initial, edits, probes), 60))
    assert client.error is None
