"""Workspace trust, through a real client and server: with `initializationOptions.trusted: false` the server ignores
every setting that names a path or a model to load — from the client and from the repository's own tuneline.toml —
and refuses the training commands with one sentence; trust cannot be granted by settings; a client that says
nothing is trusted. Trusted or not, the training file read for TL306 must resolve inside the workspace."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from lsprotocol import types
from neardup.planted import SUPPORT  # tests/ is on sys.path (rootdir)
from pygls.exceptions import JsonRpcException

from .helpers import Client, chat, server

pytestmark = pytest.mark.asyncio
REFUSED = "Training is turned off in an untrusted workspace"
TRAINING = ("tuneline.train", "tuneline.preflight", "tuneline.runs", "tuneline.resumeRun", "tuneline.cancelRun")


def repository(root: Path) -> Path:
    """A repository whose config names a models file (a price of $1,000 per 1M tokens), a validation file and an
    embedding model, with a planted unfinished run; returns the dataset."""
    (root / "models.toml").write_text('[models."gpt-4o-mini"]\nprice = 1000.0\n')
    (root / "tuneline.toml").write_text(
        'models_file = "models.toml"\nvalidation_file = "b.jsonl"\nembedding_model = "./evil-model"\n'
    )
    run = root / ".tuneline" / "runs" / "planted"
    run.mkdir(parents=True)
    (run / "run.json").write_text(json.dumps({"id": "planted", "status": "validating", "pid": None}))
    data = root / "a.jsonl"
    data.write_text("\n".join(chat(f"Question {i}", f"Answer {i}.") for i in range(12)) + "\n")
    return data


async def lens_cost(client: Client, uri: str) -> float:
    lenses = await client.text_document_code_lens_async(
        types.CodeLensParams(text_document=types.TextDocumentIdentifier(uri=uri))
    )
    match = re.search(r"≈ \$([\d,.]+)", lenses[0].command.title)
    assert match, lenses[0].command.title
    return float(match.group(1).replace(",", ""))


def logged(client: Client) -> str:
    return "\n".join(m.message for m in client.log_messages)


async def wait_for(predicate, timeout: float = 15.0) -> bool:
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return False


async def test_untrusted_ignores_paths_and_models_and_refuses_training(tmp_path):
    data = repository(tmp_path)
    planted = (tmp_path / ".tuneline/runs/planted/run.json").read_bytes()
    client_settings = {"modelsFile": str(tmp_path / "models.toml"), "embeddingModel": "/tmp/x", "validationFile": "b"}
    async with server(
        tmp_path, {"trusted": True, **client_settings}, trusted=False, settings={"validationFile": "/etc/passwd"}
    ) as client:
        uri = data.as_uri()
        client.open(uri, data.read_text())
        await client.get_diagnostics(uri)
        assert await lens_cost(client, uri) < 1  # the shipped price, not the repository's $1,000 per 1M tokens
        assert await wait_for(lambda: "`models_file` in the project's settings is ignored" in logged(client))
        text = logged(client)
        for name in ("validation_file", "embedding_model"):
            assert f"`{name}` in the project's settings is ignored in an untrusted workspace" in text
        for key in ("modelsFile", "embeddingModel", "validationFile"):
            assert f"the setting `{key}` is ignored in an untrusted workspace" in text
        assert not [m for m in client.messages if "models.toml" in m.message]  # nothing tried to read it

        for command in TRAINING:
            arguments = ["planted"] if command.endswith("Run") else [{"uri": uri, "backend": "openai"}]
            with pytest.raises(JsonRpcException) as refused:
                await client.workspace_execute_command_async(
                    types.ExecuteCommandParams(command=command, arguments=arguments)
                )
            assert refused.value.code == -32803
            assert str(refused.value.message).startswith(REFUSED) and str(refused.value.message).count(".") == 1
        # linting, statistics and the summary still work
        assert "| examples | 12 |" in await client.workspace_execute_command_async(
            types.ExecuteCommandParams(command="tuneline.stats", arguments=[uri])
        )
    assert (tmp_path / ".tuneline/runs/planted/run.json").read_bytes() == planted  # never picked up


async def test_a_client_that_says_nothing_is_trusted(tmp_path):
    data = repository(tmp_path)
    async with server(tmp_path) as client:
        uri = data.as_uri()
        client.open(uri, data.read_text())
        await client.get_diagnostics(uri)
        assert await lens_cost(client, uri) > 1  # the repository's models file applies
        assert "untrusted" not in logged(client)


async def test_trust_is_exactly_true(tmp_path):
    """Anything but the JSON value `true` (a string, a number) counts as untrusted: the safe reading."""
    data = repository(tmp_path)
    async with server(tmp_path, trusted="true") as client:
        uri = data.as_uri()
        client.open(uri, data.read_text())
        await client.get_diagnostics(uri)
        assert await lens_cost(client, uri) < 1
        with pytest.raises(JsonRpcException, match=REFUSED):
            await client.workspace_execute_command_async(
                types.ExecuteCommandParams(command="tuneline.runs", arguments=[])
            )


async def codes_after_pass(client: Client, uri: str, code: str, done, timeout: float = 30) -> list[types.Diagnostic]:
    """Diagnostics of `code` once `done()` says the background pass has decided."""
    assert await wait_for(done, timeout)
    await asyncio.sleep(1.0)  # the pass's results (if any) are merged after a short delay
    return [d for d in await client.get_diagnostics(uri) if d.code == code]


async def test_the_training_file_for_tl306_must_lie_inside_the_workspace(tmp_path):
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    secret = outside / "secret.jsonl"
    secret.write_text("\n".join(SUPPORT[:40]) + "\n")  # the validation file below repeats its line 5
    root = tmp_path / "repo"
    root.mkdir()
    (root / "train.jsonl").symlink_to(secret)
    validation = "\n".join([*SUPPORT[40:], SUPPORT[5]]) + "\n"
    async with server(root) as client:
        uri = (root / "valid.jsonl").as_uri()
        client.open(uri, validation)
        found = await codes_after_pass(client, uri, "TL306", lambda: "outside the workspace folders" in logged(client))
        assert found == []
        # the same file, really inside the workspace: the overlap is found (the check itself works)
        (root / "train.jsonl").unlink()
        (root / "train.jsonl").write_text(secret.read_text())
        client.workspace_did_change_watched_files(
            types.DidChangeWatchedFilesParams(
                changes=[types.FileEvent(uri=(root / "train.jsonl").as_uri(), type=types.FileChangeType.Changed)]
            )
        )
        for _ in range(150):
            if [d for d in await client.get_diagnostics(uri) if d.code == "TL306"]:
                break
            await asyncio.sleep(0.2)
        else:
            raise AssertionError("TL306 never appeared for a training file inside the workspace")
