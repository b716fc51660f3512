"""Untrusted workspaces ignore a `target = "local:PATH"` (it loads a model's tokenizer from disk), from the
repository's tuneline.toml and from the editor's settings alike; trusted ones keep it."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from lsprotocol import types

from .helpers import chat
from .test_trust import logged, server, wait_for

pytestmark = pytest.mark.asyncio


def _repository(root: Path) -> Path:
    (root / "tuneline.toml").write_text('target = "local:./evil-model"\n')
    data = root / "a.jsonl"
    data.write_text("\n".join(chat(f"Question {i}", f"Answer {i}.") for i in range(12)) + "\n")
    return data


async def _hover(client, uri: str) -> str:
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(0, 2))
    )
    return hover.contents.value if hover else ""


@pytest.mark.parametrize("where", ["project", "editor"])
async def test_untrusted_ignores_a_local_target(tmp_path, where):
    data = _repository(tmp_path) if where == "project" else tmp_path / "a.jsonl"
    if where == "editor":
        data.write_text("\n".join(chat(f"Question {i}", f"Answer {i}.") for i in range(12)) + "\n")
    editor = {"target": "local:/tmp/evil-model"} if where == "editor" else {}
    async with server(tmp_path, editor, trusted=False) as client:
        uri = data.as_uri()
        client.open(uri, data.read_text())
        await client.get_diagnostics(uri)
        text = await _hover(client, uri)
        assert "target openai:" in text and "local:" not in text, text
        message = "`target` in the project's settings" if where == "project" else "the setting `target`"
        assert await wait_for(lambda: f"{message} is ignored in an untrusted workspace" in logged(client))


async def test_trusted_keeps_a_local_target(tmp_path):
    data = _repository(tmp_path)
    async with server(tmp_path) as client:
        uri = data.as_uri()
        client.open(uri, data.read_text())
        await client.get_diagnostics(uri)
        assert "target local:" in await _hover(client, uri)


def _tiny_model(folder: Path) -> Path:
    """The tiny Llama and tokenizer of the local-training tests, built here (offline)."""
    import importlib.util

    conftest = Path(__file__).resolve().parents[1] / "training" / "local" / "conftest.py"
    spec = importlib.util.spec_from_file_location("local_conftest", conftest)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.build_tiny_model(folder)


@contextlib.asynccontextmanager
async def _opened(root: Path, target: str):
    """A trusted server for a project whose tuneline.toml names `target`, with a 12-example file open and analysed."""
    (root / "tuneline.toml").write_text(f'target = "{target}"\n')
    data = root / "a.jsonl"
    data.write_text("\n".join(chat(f"Question {i}", f"Answer {i}.") for i in range(12)) + "\n")
    async with server(root) as client:
        uri = data.as_uri()
        client.open(uri, data.read_text())
        await client.get_diagnostics(uri)
        yield client, uri


async def test_trusted_local_target_counts_with_the_models_own_tokenizer(tmp_path):
    """The editor injects the local trainer's counter as `tuneline check` does: counts are exact (no ≈), and a
    relative folder is the workspace's, not the server's working folder."""
    _tiny_model(tmp_path / "models" / "tiny")
    async with _opened(tmp_path, "local:./models/tiny") as (client, uri):
        text = await _hover(client, uri)
        assert "target local:" in text and "tokens" in text, text
        assert "≈" not in text, text
        assert "o200k_base estimates" not in logged(client)


async def test_a_missing_local_model_says_so_and_estimates(tmp_path):
    async with _opened(tmp_path, "local:./models/none") as (client, uri):
        assert "≈" in await _hover(client, uri)
        assert await wait_for(lambda: "local:./models/none" in logged(client) and "estimates" in logged(client))
