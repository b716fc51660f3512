"""`tuneline.targets` over workspace/executeCommand (the editor's Select Target list), and the `≈` the inlay
hints show when a target's token counts are an estimate. One server per test: the target is a server setting."""

from __future__ import annotations

from typing import Any

import pytest
from lsprotocol import types

from tuneline.analysis.models import ModelTable
from tuneline.analysis.targets import shipped_providers

from .helpers import Client, chat, new_uri, server

pytestmark = pytest.mark.asyncio

TOGETHER = "together:meta-llama/Meta-Llama-3.1-8B-Instruct-Reference"


async def run(client: Client, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command="tuneline.targets", arguments=list(arguments))
    )


async def hint_labels(client: Client, uri: str) -> list[str]:
    hints = await client.text_document_inlay_hint_async(
        types.InlayHintParams(
            text_document=types.TextDocumentIdentifier(uri=uri),
            range=types.Range(types.Position(0, 0), types.Position(5, 0)),
        )
    )
    return [h.label for h in hints]


async def test_targets_lists_every_provider_with_its_models_and_the_current_target(tmp_path):
    async with server(tmp_path, {"target": TOGETHER}) as client:
        assert "tuneline.targets" in client.server_commands
        uri = new_uri(tmp_path)
        client.open(uri, chat("Hi", "Hello.") + "\n")
        await client.get_diagnostics(uri)
        answer = await run(client, uri)
        providers = {p["provider"]: p for p in answer["providers"]}
        assert list(providers) == list(shipped_providers())  # providers.toml's order, nothing invented
        together = providers["together"]
        assert together["title"] == shipped_providers()["together"].title
        assert together["backend"] == "together" and together["methods"] == ["sft", "dpo"]
        table = ModelTable()
        assert together["models"] and all(table.resolve(m).provider == "together" for m in together["models"])
        assert "gpt-4o-mini-2024-07-18" in providers["openai"]["models"]
        assert "rft" in providers["openai"]["methods"]
        assert providers["local"]["models"] == []  # a folder the user picks, not a table row
        assert answer["current"] == {
            "provider": "together",
            "model": "meta-llama/Meta-Llama-3.1-8B-Instruct-Reference",
            "method": None,
        }
        # An open model counted with o200k (no tokenizer offline here): the hint says it is an estimate.
        assert all(label.startswith("· ≈ ") for label in await hint_labels(client, uri))


async def test_targets_without_a_document_and_with_bad_arguments(tmp_path):
    async with server(tmp_path, {}) as client:
        answer = await run(client)
        assert answer["current"] is None and len(answer["providers"]) == len(shipped_providers())
        answer = await run(client, {"uri": 42})
        assert answer["current"] is None
        uri = new_uri(tmp_path)
        client.open(uri, chat("Hi", "Hello.") + "\n")
        await client.get_diagnostics(uri)
        assert (await run(client, {"uri": uri}))["current"]["provider"] == "openai"
        # OpenAI's own tokenizer: exact counts, no ≈.
        labels = await hint_labels(client, uri)
        assert labels and not any("≈" in label for label in labels)
