"""Fixtures: a real `tuneline serve` process per test module, driven by a pull client and by a push client."""

from __future__ import annotations

from pathlib import Path

import pytest
import pytest_lsp

from .helpers import CONFIG, Client, start


@pytest.fixture(scope="module")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder without project config (so the repository's own pyproject.toml is not picked up)."""
    return tmp_path_factory.mktemp("ws")


@pytest_lsp.fixture(config=CONFIG, params=["pull", "push"], scope="module")
async def client(lsp_client: Client, request: pytest.FixtureRequest, workspace: Path):
    await start(lsp_client, request.param, workspace)
    yield
    await lsp_client.shutdown_session()
