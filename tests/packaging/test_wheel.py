"""The packages as users get them.

`python -m build` (isolated, as a user runs it) makes the sdist and then the wheel from that sdist; twine accepts
both. The wheel holds every module and data file of `server/` and `training/` and nothing from tests. Installed with
its `[lsp]` extra into a fresh virtual environment outside the repository (pip fetches the dependencies from the
package index, or its cache), `tuneline check` works on an example, the CLI prints the same rule and target
references as the checkout, and `tuneline serve` answers a real LSP client: initialize, diagnostics for an opened
dataset, shutdown.
"""

from __future__ import annotations

import asyncio
import email
import os
import re
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest
from lsprotocol import types
from packaging_source import REPO, copy_source
from pygls.lsp.client import LanguageClient

from tuneline import __version__

WHEEL = f"tuneline-{__version__}-py3-none-any.whl"
SDIST = f"tuneline-{__version__}.tar.gz"


def clean_env() -> dict[str, str]:
    """The environment without the test venv's traces, so the fresh venv sees nothing of the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}


@pytest.fixture(scope="module")
def dist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    source = copy_source(tmp_path_factory.mktemp("source"))
    out = tmp_path_factory.mktemp("dist")
    result = subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(source)],
        capture_output=True,
        text=True,
        timeout=600,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return out


@pytest.fixture(scope="module")
def venv(dist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment, outside the repository, with the wheel and its [lsp] extra installed."""
    root = tmp_path_factory.mktemp("fresh")
    venv = root / "venv"
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(venv)], check=True, cwd=root, env=clean_env(), timeout=120)
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", f"{dist / WHEEL}[lsp]"],
        cwd=root,
        env={**clean_env(), "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]
    return venv


def test_build_makes_an_sdist_and_a_wheel_that_twine_accepts(dist: Path) -> None:
    assert sorted(p.name for p in dist.iterdir()) == sorted([WHEEL, SDIST])
    twine = Path(sys.executable).with_name("twine")
    result = subprocess.run(
        [str(twine), "check", "--strict", str(dist / WHEEL), str(dist / SDIST)], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.count("PASSED") == 2


def _expected_wheel_files() -> set[str]:
    """Every file of server/ and training/ (code and data) under its installed name."""
    expected = set()
    for folder, prefix in ((REPO / "server", "tuneline"), (REPO / "training", "tuneline/training")):
        for path in folder.rglob("*"):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                expected.add(f"{prefix}/{path.relative_to(folder).as_posix()}")
    return expected


def test_the_wheel_holds_code_and_data_and_nothing_from_tests(dist: Path) -> None:
    with zipfile.ZipFile(dist / WHEEL) as wheel:
        names = set(wheel.namelist())
        metadata = email.message_from_bytes(wheel.read(f"tuneline-{__version__}.dist-info/METADATA"))
    missing = _expected_wheel_files() - names
    assert not missing, f"not in the wheel: {sorted(missing)}"
    assert {"tuneline/analysis/models.toml", "tuneline/analysis/providers.toml"} <= names
    stray = [n for n in names if not n.startswith(("tuneline/", f"tuneline-{__version__}.dist-info/"))]
    assert not stray, f"outside the package: {stray}"
    assert not [n for n in names if n.split("/")[-1].startswith(("test_", "conftest")) or "/tests/" in n]
    assert f"tuneline-{__version__}.dist-info/licenses/LICENSE" in names
    assert metadata["Version"] == __version__
    assert metadata["License-Expression"] == "MIT"
    assert {"lsp", "embed", "openai", "together", "local"} <= set(metadata.get_all("Provides-Extra"))
    assert any(r.startswith("shtab") for r in metadata.get_all("Requires-Dist"))


def test_the_sdist_has_sources_and_docs_and_no_tests(dist: Path) -> None:
    with tarfile.open(dist / SDIST) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "LICENSE", "server/__init__.py", "training/__init__.py"} <= names
    assert {"docs/rules.md", "docs/install.md", "server/analysis/models.toml"} <= names
    assert not [n for n in names if n.startswith(("tests/", "client-vscode/", "bench/"))]


def run(venv: Path, *args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(venv / "bin" / "tuneline"), *args], cwd=cwd, env=clean_env(), capture_output=True, text=True, timeout=120
    )


def test_installed_wheel_checks_datasets_outside_the_repository(venv: Path, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir()
    for name in ("broken.jsonl", "support-chat.jsonl"):
        (work / name).write_bytes((REPO / "examples" / name).read_bytes())
    where = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import tuneline; print(tuneline.__file__)"],
        cwd=work,
        env=clean_env(),
        capture_output=True,
        text=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout + where.stderr

    assert run(venv, "--version", cwd=work).stdout.strip() == f"tuneline {__version__}"
    broken = run(venv, "check", "broken.jsonl", cwd=work)
    assert broken.returncode == 1, broken.stderr
    assert "broken.jsonl:4:" in broken.stdout and "TL105" in broken.stdout
    good = run(venv, "check", "support-chat.jsonl", cwd=work)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "62 examples" in good.stdout and "≈ $" in good.stdout


def _models(text: str) -> list[str]:
    """`tuneline models` without what depends on this machine rather than on the data: whether each open model's
    tokenizer is in the Hugging Face cache or can be loaded here (the wheel's venv has no `local` extra), the
    footer that follows from it, and the column padding around it."""
    lines = text.split("\n\n")[0].splitlines()
    return [
        " ".join(re.sub(r" \((?:cached|not cached[^)]*|counting needs [^)]*)\)", "", line).split()) for line in lines
    ]


def test_installed_wheel_prints_the_same_references_as_the_checkout(venv: Path, tmp_path: Path) -> None:
    """The docs the CLI prints (rules, targets) come from data inside the wheel: identical to the checkout's."""
    for args in (["rule", "--all", "--markdown"], ["models"]):
        installed = run(venv, *args, cwd=tmp_path)
        checkout = subprocess.run(
            [sys.executable, "-m", "tuneline", *args], cwd=tmp_path, capture_output=True, text=True, timeout=120
        )
        assert installed.returncode == checkout.returncode == 0, installed.stderr + checkout.stderr
        if args == ["models"]:
            assert _models(installed.stdout) == _models(checkout.stdout)
        else:
            assert installed.stdout == checkout.stdout, args
    targets = [str(venv / "bin" / "python"), "-m", "tuneline.analysis.targets", "--markdown"]
    installed = subprocess.run(targets, cwd=tmp_path, env=clean_env(), capture_output=True, text=True, timeout=120)
    checkout = subprocess.run([sys.executable, *targets[1:]], cwd=tmp_path, capture_output=True, text=True)
    assert installed.returncode == 0, installed.stderr
    assert installed.stdout == checkout.stdout


def test_installed_wheel_serves_the_language_server(venv: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "broken.jsonl"
    dataset.write_bytes((REPO / "examples" / "broken.jsonl").read_bytes())

    async def session() -> tuple[types.InitializeResult, list[types.Diagnostic]]:
        client = LanguageClient("tuneline-packaging-test", "1")
        published: asyncio.Queue[types.PublishDiagnosticsParams] = asyncio.Queue()

        @client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params: types.PublishDiagnosticsParams) -> None:
            published.put_nowait(params)

        await client.start_io(str(venv / "bin" / "tuneline"), "serve", "--stdio", cwd=str(tmp_path), env=clean_env())
        try:
            result = await client.initialize_async(
                types.InitializeParams(
                    capabilities=types.ClientCapabilities(),
                    root_uri=tmp_path.as_uri(),
                    workspace_folders=[types.WorkspaceFolder(uri=tmp_path.as_uri(), name="ws")],
                )
            )
            client.initialized(types.InitializedParams())
            client.text_document_did_open(
                types.DidOpenTextDocumentParams(
                    text_document=types.TextDocumentItem(
                        uri=dataset.as_uri(), language_id="jsonl", version=1, text=dataset.read_text(encoding="utf-8")
                    )
                )
            )
            found: list[types.Diagnostic] = []
            while not found:
                params = await asyncio.wait_for(published.get(), timeout=60)
                if params.uri == dataset.as_uri():
                    found = params.diagnostics
            await client.shutdown_async(None)
            client.exit(None)
            return result, found
        finally:
            await client.stop()

    result, found = asyncio.run(session())
    assert result.server_info is not None and result.server_info.name == "tuneline"
    assert result.server_info.version == __version__
    assert any(d.code == "TL105" for d in found), [d.code for d in found]
