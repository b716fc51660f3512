"""Settings: workspace/configuration, initializationOptions, the project's tuneline.toml, changes that re-lint,
and bad input (unknown settings, a broken config, a tiktoken encoding that cannot load) that must not stop the
server. Each test gets its own server process, since settings are server-wide."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from lsprotocol import types

from .helpers import CONFIG, Client, chat, new_uri, server

pytestmark = pytest.mark.asyncio


def lines(n: int = 12) -> list[str]:
    out = [chat(f"Question {i}", f"Answer {i}.") for i in range(n)]
    out[3] = ""
    out[5] = out[5].replace('"role": "user"', '"role": "usr"')
    return out


async def lens_title(client: Client, uri: str) -> str:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    return lenses[0].command.title


async def wait_for(predicate, timeout: float = 10.0):
    for _ in range(int(timeout / 0.02)):
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_configuration_sets_model_and_epochs(tmp_path):
    async with server(tmp_path, configuration={"model": "gpt-4.1-mini", "epochs": 2}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        await client.get_diagnostics(uri)
        assert (await lens_title(client, uri)).endswith("for 2 epochs on gpt-4.1-mini-2025-04-14")


async def test_a_settings_change_relints_open_files(tmp_path):
    async with server(tmp_path, configuration={}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        codes = {d.code: d for d in await client.get_diagnostics(uri)}
        assert "TL003" in codes and codes["TL105"].severity == types.DiagnosticSeverity.Error
        client.set_configuration({"ignore": ["blank-line"], "severity": {"TL105": "hint"}}, section="tuneline")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        assert await wait_for(lambda: types.WORKSPACE_DIAGNOSTIC_REFRESH in client.refreshes)
        codes = {d.code: d for d in await client.get_diagnostics(uri)}
        assert "TL003" not in codes
        assert codes["TL105"].severity == types.DiagnosticSeverity.Hint
        # the server asked to be told about future changes, and to watch project config files
        methods = {r.method for r in client.registrations}
        assert {types.WORKSPACE_DID_CHANGE_CONFIGURATION, types.WORKSPACE_DID_CHANGE_WATCHED_FILES} <= methods


async def test_push_client_gets_new_diagnostics_after_a_change(tmp_path):
    async with server(tmp_path, mode="push", configuration={}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        assert "TL003" in {d.code for d in await client.get_diagnostics(uri)}
        client.set_configuration({"ignore": ["TL003"]}, section="tuneline")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        assert await wait_for(lambda: "TL003" not in {d.code for d in client.published[uri].diagnostics})


async def test_initialization_options_without_workspace_configuration(tmp_path):
    client: Client = await CONFIG.start()  # type: ignore[assignment]
    try:
        client.mode = "push"
        from .helpers import capabilities

        caps = capabilities("push")
        caps.workspace.configuration = False
        await client.initialize_session(
            types.InitializeParams(
                capabilities=caps,
                root_uri=tmp_path.as_uri(),
                initialization_options={"settings": {"select": ["TL1"], "model": "gpt-4o"}, "debounceMs": 5},
            )
        )
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        codes = {d.code for d in await client.get_diagnostics(uri)}
        assert codes == {"TL105", "TL112"}  # the misspelled role, so "no user message"
        assert (await lens_title(client, uri)).endswith("on gpt-4o-2024-08-06")
        # a client without workspace/configuration sends settings in didChangeConfiguration
        client.workspace_did_change_configuration(
            types.DidChangeConfigurationParams(settings={"tuneline": {"select": ["TL003"]}})
        )
        assert await wait_for(lambda: {d.code for d in client.published[uri].diagnostics} == {"TL003"})
    finally:
        await client.shutdown_session()
        await client.stop()


async def test_inlay_hints_can_be_turned_off(tmp_path):
    async with server(tmp_path, configuration={"inlayHints": False}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        await client.get_diagnostics(uri)
        hints = await client.text_document_inlay_hint_async(
            types.InlayHintParams(
                text_document=types.TextDocumentIdentifier(uri=uri),
                range=types.Range(types.Position(0, 0), types.Position(10, 0)),
            )
        )
        assert len(hints) == 0


async def test_unknown_and_invalid_settings_give_a_message_and_defaults(tmp_path):
    config = {"nonsense": 1, "epochs": "many", "model": "gpt-4o", "interpreter": ["/usr/bin/python3"]}
    async with server(tmp_path, configuration=config) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        assert await client.get_diagnostics(uri)
        messages = " ".join(m.message for m in client.messages)
        assert "unknown setting `nonsense`" in messages
        assert "`epochs` must be" in messages
        assert "interpreter" not in messages  # a client-only key: silently ignored
        assert (await lens_title(client, uri)).endswith("on gpt-4o-2024-08-06")


async def test_a_broken_project_config_does_not_stop_the_server(tmp_path):
    (tmp_path / "tuneline.toml").write_text("select = [unclosed\n", encoding="utf-8")
    async with server(tmp_path, configuration={}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        codes = {d.code for d in await client.get_diagnostics(uri)}
        assert {"TL003", "TL105"} <= codes  # defaults
        [message] = [m for m in client.messages if "tuneline.toml" in m.message]
        assert message.type == types.MessageType.Error
        assert "Using default settings" in message.message


async def test_project_config_applies_and_the_editor_overrides_it(tmp_path):
    (tmp_path / "tuneline.toml").write_text('ignore = ["TL003"]\nmodel = "gpt-4.1"\n', encoding="utf-8")
    async with server(tmp_path, configuration={"model": "gpt-4o-mini"}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        codes = {d.code for d in await client.get_diagnostics(uri)}
        assert "TL003" not in codes and "TL105" in codes
        assert (await lens_title(client, uri)).endswith("on gpt-4o-mini-2024-07-18")
        # the project file changes: the server re-reads it when the client reports the change
        (tmp_path / "tuneline.toml").write_text('ignore = ["TL105"]\n', encoding="utf-8")
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=(tmp_path / "tuneline.toml").as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        assert await wait_for(lambda: types.WORKSPACE_DIAGNOSTIC_REFRESH in client.refreshes)
        codes = {d.code for d in await client.get_diagnostics(uri)}
        assert "TL003" in codes and "TL105" not in codes


async def test_a_tiktoken_encoding_that_cannot_load(tmp_path):
    config = {"models": {"gpt-4o-mini-2024-07-18": {"encoding": "p50k_base"}}}
    async with server(tmp_path, configuration=config) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(lines()))
        assert {"TL003", "TL105"} <= {d.code for d in await client.get_diagnostics(uri)}
        [message] = [m for m in client.messages if "p50k_base" in m.message]
        assert "o200k_base" in message.message
        hover = await client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri=uri), types.Position(0, 0))
        )
        assert "tokens" in hover.contents.value


async def test_a_model_limit_override_truncates_in_hover_and_diagnostics(tmp_path):
    config = {"models": {"gpt-4o-mini-2024-07-18": {"limit": 20}}}
    async with server(tmp_path, configuration=config) as client:
        uri = new_uri(tmp_path)
        long = chat("A question that is long enough to go over twenty tokens, surely, with all these words.", "Yes.")
        client.open(uri, "\n".join([long, *lines()]))
        diagnostics = await client.get_diagnostics(uri)
        [too_long] = [d for d in diagnostics if d.code == "TL201" and d.range.start.line == 0]
        assert "over the 20-token limit" in too_long.message
        hover = await client.text_document_hover_async(
            types.HoverParams(types.TextDocumentIdentifier(uri=uri), types.Position(0, 0))
        )
        assert "⚠️ **Truncated:**" in hover.contents.value
        assert "billed 20 ×" in hover.contents.value
        # tuneline's own log lines reach the client (window/logMessage)
        assert any("tuneline ready" in m.message for m in client.log_messages)


async def test_the_target_setting_changes_the_verdicts(tmp_path):
    """An alpaca file is refused for OpenAI (the default target) and fine for local training; a bad target is one
    message and the default target, never a stopped server."""
    import json

    alpaca = [json.dumps({"instruction": f"Add {i} and {i}.", "input": "", "output": f"{2 * i}."}) for i in range(12)]
    async with server(tmp_path, configuration={}) as client:
        uri = new_uri(tmp_path)
        client.open(uri, "\n".join(alpaca))
        refused = [d for d in await client.get_diagnostics(uri) if d.code == "TL123"]
        assert refused and all(d.severity == types.DiagnosticSeverity.Error for d in refused)
        assert "OpenAI does not take it" in refused[0].message
        summary = await client.protocol.send_request_async("tuneline/summary", {"uri": uri})
        assert summary["target"] == {"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "method": "sft"}

        client.set_configuration({"target": "local:./models/tiny"}, section="tuneline")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        assert await wait_for(lambda: types.WORKSPACE_DIAGNOSTIC_REFRESH in client.refreshes)
        assert not [d for d in await client.get_diagnostics(uri) if d.code == "TL123"]
        summary = await client.protocol.send_request_async("tuneline/summary", {"uri": uri})
        assert summary["target"]["provider"] == "local" and summary["tokensExact"] is False

        client.refreshes.clear()
        client.set_configuration({"target": "togther:x", "method": "sft"}, section="tuneline")
        client.workspace_did_change_configuration(types.DidChangeConfigurationParams(settings=None))
        assert await wait_for(lambda: types.WORKSPACE_DIAGNOSTIC_REFRESH in client.refreshes)
        assert [d for d in await client.get_diagnostics(uri) if d.code == "TL123"]
        assert any("did you mean together?" in m.message for m in client.messages)


async def test_train_without_a_backend_follows_the_target(tmp_path):
    """The code lens's train command carries only the file: the pre-flight then judges and prices it for the target's
    backend (Together here: text is fine, one epoch), as `tuneline train` without --backend does."""
    import json
    from urllib.parse import unquote, urlparse

    text = "\n".join(json.dumps({"text": f"Document {i} with some words in it."}) for i in range(12))
    async with server(tmp_path, configuration={"target": "together:Qwen/Qwen2.5-7B-Instruct"}) as client:
        uri = new_uri(tmp_path)
        Path(unquote(urlparse(uri).path)).write_text(text + "\n", encoding="utf-8")
        client.open(uri, text + "\n")
        await client.get_diagnostics(uri)
        result = await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="tuneline.preflight", arguments=[{"uri": uri}])
        )
        assert result["backend"] == "together" and result["model"] == "Qwen/Qwen2.5-7B-Instruct"
        assert result["errors"] == [] and result["epochs"] == 1
