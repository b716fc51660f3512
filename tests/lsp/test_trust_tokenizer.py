"""The `tokenizer` setting through a real client and server: in a trusted workspace an open model (a Together target)
counts with the folder it names, as `tuneline check --tokenizer` does (the hover shows no ≈; a relative folder is
the workspace's); in an untrusted one the setting names a folder to load, so it is ignored from the editor's settings
and from the repository's tuneline.toml alike, and the counts stay o200k_base estimates.

HF_HOME points at an empty folder of the test's own, so the model table's tokenizer is never found in a cache.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from lsprotocol import types

from .helpers import chat
from .test_trust import logged, server, wait_for

pytestmark = pytest.mark.asyncio
TARGET = "together:Qwen/Qwen2.5-7B-Instruct"


@pytest.fixture(scope="module")
def tokenizer_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny model's tokenizer files (tests/training/local/conftest.py), built once for the module, offline."""
    import importlib.util

    conftest = Path(__file__).resolve().parents[1] / "training" / "local" / "conftest.py"
    spec = importlib.util.spec_from_file_location("local_conftest", conftest)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.build_tiny_model(tmp_path_factory.mktemp("tiny") / "model")
    folder = tmp_path_factory.mktemp("tok") / "tok"
    folder.mkdir()
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        if (model / name).exists():
            shutil.copy(model / name, folder / name)
    return folder


@pytest.fixture(autouse=True)
def empty_hf_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty-hf"))  # the server inherits it


def _workspace(root: Path, tokenizer_files: Path) -> Path:
    shutil.copytree(tokenizer_files, root / "tok")
    data = root / "a.jsonl"
    data.write_text("\n".join(chat(f"Question {i}", f"Answer {i}.") for i in range(12)) + "\n")
    return data


async def _hover(client, data: Path) -> str:
    uri = data.as_uri()
    client.open(uri, data.read_text())
    await client.get_diagnostics(uri)
    hover = await client.text_document_hover_async(
        types.HoverParams(text_document=types.TextDocumentIdentifier(uri=uri), position=types.Position(0, 2))
    )
    return hover.contents.value if hover else ""


async def test_trusted_tokenizer_setting_makes_the_hover_exact(tmp_path, tokenizer_files):
    data = _workspace(tmp_path, tokenizer_files)
    async with server(tmp_path, {"target": TARGET, "tokenizer": "./tok"}) as client:
        text = await _hover(client, data)
        assert f"target {TARGET}" in text and "tokens" in text, text
        assert "≈" not in text, text
        assert "estimates" not in logged(client)


async def test_without_a_tokenizer_the_hover_estimates_and_the_log_says_what_to_fetch(tmp_path, tokenizer_files):
    data = _workspace(tmp_path, tokenizer_files)
    async with server(tmp_path, {"target": TARGET}) as client:
        assert "≈" in await _hover(client, data)
        assert await wait_for(lambda: "hf download Qwen/Qwen2.5-7B-Instruct" in logged(client))


@pytest.mark.parametrize("where", ["editor", "project"])
async def test_untrusted_ignores_the_tokenizer_setting(tmp_path, tokenizer_files, where):
    data = _workspace(tmp_path, tokenizer_files)
    if where == "project":
        (tmp_path / "tuneline.toml").write_text(f'target = "{TARGET}"\ntokenizer = "./tok"\n')
        editor = {}
    else:
        editor = {"target": TARGET, "tokenizer": str(tmp_path / "tok")}
    async with server(tmp_path, editor, trusted=False) as client:
        text = await _hover(client, data)
        assert f"target {TARGET}" in text and "≈" in text, text
        message = "`tokenizer` in the project's settings" if where == "project" else "the setting `tokenizer`"
        assert await wait_for(lambda: f"{message} is ignored in an untrusted workspace" in logged(client))


async def test_a_tokenizer_setting_that_does_not_load_says_so_once_and_estimates(tmp_path, tokenizer_files):
    data = _workspace(tmp_path, tokenizer_files)
    async with server(tmp_path, {"target": TARGET, "tokenizer": "./missing"}) as client:
        assert "≈" in await _hover(client, data)
        assert await wait_for(lambda: "tokenizer ./missing: no such folder" in logged(client))
