"""pytest-lsp clients for the real `tuneline serve` process: a pull client (VS Code 1.65 capabilities plus pull
diagnostics) and a push client (the same without them). The client keeps its own copy of every open document,
applies `workspace/applyEdit` to it, and records every `publishDiagnostics` with its version."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sys
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lsprotocol import types
from lsprotocol.converters import get_converter
from pytest_lsp import ClientServerConfig, LanguageClient, client_capabilities
from pytest_lsp.client import DEFAULT_CLIENT_FEATURES, register_lsp_features

SERVER = [sys.executable, "-m", "tuneline", "serve", "--stdio"]
CONVERTER = get_converter()
_BREAK = re.compile(r"\r\n|\n|\r")


def chat(user: str, assistant: str, system: str | None = "You are a helpful assistant.", **extra: Any) -> str:
    messages = [{"role": "system", "content": system}] if system is not None else []
    messages += [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return json.dumps({"messages": messages, **extra}, ensure_ascii=False)


def lsp_lines(text: str) -> list[str]:
    """Lines by LSP's rule (the reference the tests check positions against)."""
    out, line, i = [], [], 0
    while i < len(text):
        ch = text[i]
        if ch in "\r\n":
            out.append("".join(line))
            line = []
            i += 2 if text.startswith("\r\n", i) else 1
            continue
        line.append(ch)
        i += 1
    out.append("".join(line))
    return out


def utf16(text: str) -> int:
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def line_starts(text: str) -> list[int]:
    """Where each line of `text` starts (LSP's line breaks: CRLF, LF, CR)."""
    return [0, *(m.end() for m in _BREAK.finditer(text))]


def offset_at(text: str, line: int, character: int, starts: list[int] | None = None) -> int:
    """Offset of a UTF-16 position in `text` (exact: the tests only send valid positions). Pass `starts`
    (`line_starts(text)`) when resolving many positions in one text: finding the line is then a lookup."""
    starts = line_starts(text) if starts is None else starts
    if line >= len(starts):
        return len(text)
    units = 0
    i = starts[line]
    while i < len(text) and units < character and text[i] not in "\r\n":
        units += 2 if ord(text[i]) > 0xFFFF else 1
        i += 1
    return i


def apply_text_edits(text: str, edits: list[types.TextEdit]) -> str:
    starts = line_starts(text)
    spans = sorted(  # by start, inserts before a replacement at the same place (as VS Code applies them)
        (
            offset_at(text, e.range.start.line, e.range.start.character, starts),
            offset_at(text, e.range.end.line, e.range.end.character, starts),
            i,
            e.new_text,
        )
        for i, e in enumerate(edits)
    )
    pieces, at = [], 0
    for start, end, _, new in spans:  # non-overlapping, as LSP requires: one join, not a copy per edit
        assert start >= at, "overlapping text edits"
        pieces += [text[at:start], new]
        at = end
    return "".join([*pieces, text[at:]])


@dataclass
class Published:
    version: int | None
    diagnostics: list[types.Diagnostic]
    at: float = field(default_factory=time.monotonic)


class Client(LanguageClient):
    """pytest-lsp's client plus a document store and version-aware diagnostics."""

    mode: str = "pull"

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.texts: dict[str, str] = {}
        self.versions: dict[str, int] = {}
        self.published: dict[str, Published] = {}
        self.applied_edits: list[types.WorkspaceEdit] = []
        self.registrations: list[types.Registration] = []
        self.refreshes: list[str] = []
        self.init_result: types.InitializeResult | None = None
        self.server_commands: list[str] = []

    # --- documents ---------------------------------------------------------------------------------------------
    def open(self, uri: str, text: str) -> None:
        self.texts[uri] = text
        self.versions[uri] = 1
        self.text_document_did_open(
            types.DidOpenTextDocumentParams(types.TextDocumentItem(uri=uri, language_id="jsonl", version=1, text=text))
        )

    def close(self, uri: str) -> None:
        self.texts.pop(uri, None)
        self.text_document_did_close(types.DidCloseTextDocumentParams(types.TextDocumentIdentifier(uri=uri)))

    def edit(self, uri: str, line: int, character: int, end_line: int, end_character: int, new_text: str) -> None:
        text = self.texts[uri]
        start = offset_at(text, line, character)
        end = offset_at(text, end_line, end_character)
        start, end = min(start, end), max(start, end)  # a reversed range is read like the server reads it
        self.texts[uri] = text[:start] + new_text + text[end:]
        self.versions[uri] += 1
        rng = types.Range(types.Position(line, character), types.Position(end_line, end_character))
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                [types.TextDocumentContentChangePartial(range=rng, text=new_text)],
            )
        )

    def replace_all(self, uri: str, text: str) -> None:
        self.texts[uri] = text
        self.versions[uri] += 1
        self.text_document_did_change(
            types.DidChangeTextDocumentParams(
                types.VersionedTextDocumentIdentifier(uri=uri, version=self.versions[uri]),
                [types.TextDocumentContentChangeWholeDocument(text=text)],
            )
        )

    def apply(self, edit: types.WorkspaceEdit) -> None:
        """Apply a WorkspaceEdit to the client's copies (checking versions like an editor)."""
        if edit.document_changes:
            for change in edit.document_changes:
                assert isinstance(change, types.TextDocumentEdit)
                uri = change.text_document.uri
                if change.text_document.version is not None:
                    assert change.text_document.version == self.versions[uri], "stale edit"
                self._apply_edits(uri, list(change.edits))  # type: ignore[arg-type]
        for uri, edits in (edit.changes or {}).items():
            self._apply_edits(uri, list(edits))

    def _apply_edits(self, uri: str, edits: list[types.TextEdit]) -> None:
        new = apply_text_edits(self.texts[uri], edits)
        self.replace_all(uri, new)

    # --- diagnostics -------------------------------------------------------------------------------------------
    async def get_diagnostics(self, uri: str, timeout: float = 20) -> list[types.Diagnostic]:
        """Diagnostics for the current version: pulled, or the push for this version."""
        if self.mode == "pull":
            report = await asyncio.wait_for(
                self.text_document_diagnostic_async(
                    types.DocumentDiagnosticParams(text_document=types.TextDocumentIdentifier(uri=uri))
                ),
                timeout,
            )
            assert isinstance(report, types.RelatedFullDocumentDiagnosticReport)
            return list(report.items)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            got = self.published.get(uri)
            if got is not None and got.version == self.versions.get(uri):
                return got.diagnostics
            await asyncio.sleep(0.01)
        raise TimeoutError(f"no diagnostics for {uri} version {self.versions.get(uri)}")


class RecordingClient(Client):
    """The tests' client, recording every pushed diagnostics version in order (not only the last): give it
    `record_publish` as `make_client`'s `publish`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.publishes: list[tuple[int | None, float, list[types.Diagnostic]]] = []


def record_publish(client: RecordingClient, params: types.PublishDiagnosticsParams) -> None:
    client.publishes.append((params.version, time.perf_counter(), list(params.diagnostics)))
    _publish(client, params)


def _publish(client: Client, params: types.PublishDiagnosticsParams) -> None:
    client.diagnostics[params.uri] = params.diagnostics
    client.published[params.uri] = Published(params.version, list(params.diagnostics))


def _apply_edit(client: Client, params: types.ApplyWorkspaceEditParams) -> types.ApplyWorkspaceEditResult:
    client.applied_edits.append(params.edit)
    client.apply(params.edit)
    return types.ApplyWorkspaceEditResult(applied=True)


def _register_capability(client: Client, params: types.RegistrationParams) -> None:
    client.registrations.extend(params.registrations)


def _refresh(method: str):
    def handler(client: Client, params: None) -> None:
        client.refreshes.append(method)

    return handler


def make_client(client_class: type[Client] = Client, publish: Callable[..., None] | None = None) -> Client:
    """The tests' client; `client_class` and `publish` let a test record more of what the server pushes."""
    client = client_class(converter_factory=lambda: CONVERTER)
    features = dict(DEFAULT_CLIENT_FEATURES)
    features[types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS] = publish or _publish
    features[types.WORKSPACE_APPLY_EDIT] = _apply_edit
    features[types.CLIENT_REGISTER_CAPABILITY] = _register_capability
    features[types.WORKSPACE_DIAGNOSTIC_REFRESH] = _refresh(types.WORKSPACE_DIAGNOSTIC_REFRESH)
    features[types.WORKSPACE_CODE_LENS_REFRESH] = _refresh(types.WORKSPACE_CODE_LENS_REFRESH)
    features[types.WORKSPACE_INLAY_HINT_REFRESH] = _refresh(types.WORKSPACE_INLAY_HINT_REFRESH)
    register_lsp_features(client, features)
    return client


def capabilities(mode: str) -> types.ClientCapabilities:
    caps = client_capabilities("visual-studio-code")
    if mode == "pull":
        caps.text_document.diagnostic = types.DiagnosticClientCapabilities(dynamic_registration=False)
        caps.workspace.diagnostics = types.DiagnosticWorkspaceClientCapabilities(refresh_support=True)
    else:
        caps.text_document.diagnostic = None
        caps.workspace.diagnostics = None
    return caps


async def start(client: Client, mode: str, root: Path, **init: Any) -> None:
    client.mode = mode
    result = await client.initialize_session(
        types.InitializeParams(
            capabilities=capabilities(mode),
            root_uri=root.as_uri(),
            workspace_folders=[types.WorkspaceFolder(uri=root.as_uri(), name=root.name)],
            initialization_options={"debounceMs": 10, **init},
        )
    )
    client.init_result = result
    provider = result.capabilities.execute_command_provider
    client.server_commands = list(provider.commands) if provider else []


_counter = iter(range(1_000_000))


def new_uri(workspace: Path, name: str = "data") -> str:
    return (workspace / f"{name}-{next(_counter)}.jsonl").as_uri()


CONFIG = ClientServerConfig(server_command=SERVER, client_factory=make_client)


@contextlib.asynccontextmanager
async def server(
    root: Path, configuration: dict[str, Any] | None = None, *, mode: str = "pull", **init: Any
) -> AsyncIterator[Client]:
    """A real server for `root`, started by a real client: the editor's `tuneline` settings (`configuration`),
    pull or push diagnostics, and `initializationOptions` (`init`); shut down cleanly after."""
    client: Client = await CONFIG.start()  # type: ignore[assignment]
    if configuration is not None:
        client.set_configuration(configuration, section="tuneline")
    try:
        await start(client, mode, root, **init)
        yield client
    finally:
        await client.shutdown_session()
        await client.stop()
