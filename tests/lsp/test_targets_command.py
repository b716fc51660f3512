"""`tuneline.targets` over workspace/executeCommand (the editor's Select Target list), and the `≈` the inlay
hints show when a target's token counts are an estimate. One server per test: the target is a server setting."""

from __future__ import annotations

import json
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


async def test_the_editor_shows_what_the_target_refuses_per_model_and_per_file(tmp_path):
    """The language server gives the same verdicts as `check` for this session's target rules: a DPO file on a model
    without DPO (TL123, on the file's first line), a Fireworks file weighting some examples only (TL129), and an
    extra key Together refuses beside a prompt/completion pair (TL109)."""
    pair = {
        "input": {"messages": [{"role": "user", "content": "Add 2 and 2."}]},
        "preferred_output": [{"role": "assistant", "content": "4."}],
        "non_preferred_output": [{"role": "assistant", "content": "5."}],
    }
    cases = [
        ("openai:gpt-4o-mini", [json.dumps(pair)] * 12, "TL123", "only, not preference fine-tuning (dpo)"),
        (
            "fireworks:accounts/fireworks/models/qwen3-8b",
            [chat(f"Q{i}", f"A{i}.", weight=2.0) if i < 3 else chat(f"Q{i}", f"A{i}.") for i in range(12)],
            "TL129",
            "takes it on every example or on none",
        ),
        (
            TOGETHER,
            [json.dumps({"prompt": f"q{i}", "completion": f"a{i}.", "id": i}) for i in range(12)],
            "TL109",
            "id",
        ),
    ]
    for target, lines, code, words in cases:
        async with server(tmp_path, {"target": target}) as client:
            uri = new_uri(tmp_path)
            client.open(uri, "\n".join(lines) + "\n")
            found = [d for d in await client.get_diagnostics(uri) if d.code == code]
            assert found and found[0].severity == types.DiagnosticSeverity.Error, (target, found)
            assert words in found[0].message, (target, found[0].message)
