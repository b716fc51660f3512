from __future__ import annotations

import pytest
from lsprotocol import types

from .helpers import chat, new_uri

pytestmark = pytest.mark.asyncio(loop_scope="module")


async def test_smoke(client, workspace):
    uri = new_uri(workspace)
    text = (
        "\n".join(
            [
                chat("hi", "hello"),
                chat("hi", "hello"),
                "",
                '{"messages": [{"role": "assitant", "content": "x"}]}',
                "{bad",
            ]
        )
        + "\n"
    )
    client.open(uri, text)
    diags = await client.get_diagnostics(uri)
    for d in diags:
        print(d.range, d.code, d.message, d.data)
    hover = await client.text_document_hover_async(
        types.HoverParams(types.TextDocumentIdentifier(uri), types.Position(0, 5))
    )
    print(hover.contents.value)
    assert diags
