"""A bad model row in the editor's settings or the project's models file, through a real `tuneline serve`: one
clear message naming the key, and the server keeps linting with the default table (before, a non-numeric `limit`
reached `int(...)` and the message was Python's "invalid literal for int() with base 10")."""

from __future__ import annotations

import asyncio

import pytest
from lsprotocol import types

from .helpers import Client, chat, new_uri, server

pytestmark = pytest.mark.asyncio

LINES = [chat(f"Question {i}", f"Answer {i}.") for i in range(12)]


async def _message(client: Client, text: str) -> types.ShowMessageParams:
    for _ in range(500):
        found = [m for m in client.messages if text in m.message]
        if found:
            return found[0]
        await asyncio.sleep(0.02)
    raise AssertionError(f"no message with {text!r}: {[m.message for m in client.messages]}")


async def test_a_bad_model_row_in_the_editor_settings_is_a_message_and_the_default(tmp_path):
    config = {"models": {"gpt-4o-mini-2024-07-18": {"limit": "lots"}}}
    async with server(tmp_path, config) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(LINES))
        assert {d.code for d in await client.get_diagnostics(uri)} >= {"TL304"}  # still linting
        message = await _message(client, "`models.")
        assert message.message == (
            'tuneline: editor settings: `models."gpt-4o-mini-2024-07-18".limit` must be a whole number of tokens '
            "above 0, such as 65536, not 'lots'; using the default for it."
        )
        assert "invalid literal" not in " ".join(m.message for m in client.messages)


async def test_a_bad_models_file_is_a_message_and_the_default_table(tmp_path):
    (tmp_path / "house.toml").write_text('[models."house"]\nprice = "cheap"\n', encoding="utf-8")
    (tmp_path / "tuneline.toml").write_text('models_file = "house.toml"\n', encoding="utf-8")
    async with server(tmp_path, {}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(LINES))
        assert {d.code for d in await client.get_diagnostics(uri)} >= {"TL304"}
        message = await _message(client, "house.toml")
        assert message.type == types.MessageType.Error
        assert (
            f'{tmp_path / "house.toml"}: `models."house".price` must be a number of US dollars per 1M training '
            "tokens, such as 3.0, not 'cheap'" in message.message
        )
