"""The real `tuneline serve --stdio` for the training tests, through tests/lsp/helpers.py's client with VS Code's
capabilities (push diagnostics). The server inherits this test's environment (the fake providers' URLs and keys,
fast timings), as the editor passes its own on; the client answers `window/showMessageRequest` with
`client.answer` and keeps each question in `client.questions`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from lsp.helpers import CONFIG, Client, start
from lsprotocol import types


async def serve(project: Path, answer: str | None = None, **init: Any) -> Client:
    """A client initialised on `project` (`init`: more initializationOptions, e.g. `trusted=False`)."""
    client = await CONFIG.start()
    client.questions = []  # type: ignore[attr-defined]
    client.answer = answer  # type: ignore[attr-defined]

    @client.feature(types.WINDOW_SHOW_MESSAGE_REQUEST)
    def _answer(params: types.ShowMessageRequestParams) -> types.MessageActionItem | None:
        client.questions.append(params.message)  # type: ignore[attr-defined]
        return types.MessageActionItem(title=client.answer) if client.answer else None  # type: ignore[attr-defined]

    await start(client, "push", project, **init)
    return client


async def command(client: Client, name: str, *arguments: Any) -> Any:
    return await client.workspace_execute_command_async(
        types.ExecuteCommandParams(command=name, arguments=list(arguments))
    )
