"""The tuneline language server: state, helpers for features, and `run()` for `tuneline serve`.

Attributes other modules (features, `features/train.py`) may rely on are documented in docs/lsp.md:
`documents`, `workspace_root`, `config`, `settings_for(uri)`, `engine_for(uri)`, `settings`, `engine`,
`dataset_for(uri)`, `scheduler`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lsprotocol import types
from pygls.capabilities import get_capability
from pygls.lsp.server import LanguageServer

from tuneline import __version__
from tuneline.analysis import Dataset, Engine, Settings
from tuneline.analysis.lines import decode_bytes

from .documents import Analysis, Document, DocumentStore, uri_to_path
from .logs import LOCAL, ClientLogHandler, setup_logging
from .protocol import RawJSON, TunelineProtocol
from .scheduler import Scheduler
from .settings import SettingsManager
from .stdio_guard import claim_stdio
from .trust import inside
from .wire import StdinReader, StreamReader, read_loop
from .workers import build_dataset, warm_up

log = logging.getLogger("tuneline.lsp")

_LEVELS = {
    logging.ERROR: types.MessageType.Error,
    logging.WARNING: types.MessageType.Warning,
    logging.INFO: types.MessageType.Info,
}


class TunelineServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__(
            "tuneline",
            __version__,
            text_document_sync_kind=types.TextDocumentSyncKind.Incremental,
            protocol_cls=TunelineProtocol,
        )
        self.documents = DocumentStore()
        self.config = SettingsManager(self._settings_problem)
        self.scheduler = Scheduler(self)
        self.loop: asyncio.AbstractEventLoop | None = None
        self._configured: asyncio.Event | None = None
        self.trusted = True  # from initializationOptions.trusted (trust.py); settings can never change it
        self.exit_code = 0  # set by `exit`: 0 after `shutdown`, 1 without it
        self._reported: set[str] = set()
        self._features()

    def _features(self) -> None:
        from .features import (
            code_actions,
            code_lens,
            commands,
            diagnostics,
            hover,
            inlay_hints,
            lifecycle,
            symbols,
            sync,
        )

        for module in (lifecycle, sync, diagnostics, hover, inlay_hints, code_lens, symbols, code_actions, commands):
            module.register(self)
        from .features import targets

        targets.register(self)  # tuneline.targets: the editor's Select Target list
        from .features import near_duplicates

        near = self.near_duplicates = near_duplicates.register(self)
        hooks = self.scheduler.hooks  # the scheduler calls features only through these
        hooks.after_analysis.append(near.after_analysis)
        hooks.edited.append(near.document_edited)
        hooks.closed.append(near.closed)
        try:
            from .features import ask_tuned, evaluate, train
        except ImportError as exc:
            log.info("training commands are not available (%s)", exc)
            return
        try:
            train.register(self)
            evaluate.register(self)
            ask_tuned.register(self)  # after code_lens: adds its lens to that handler's
        except Exception:
            log.exception("the training commands failed to register; the rest of the server works")

    # --- client facts ------------------------------------------------------------------------------------------
    @property
    def tuneline_protocol(self) -> TunelineProtocol:
        return self.protocol  # type: ignore[return-value]

    def capability(self, path: str, default: Any = None) -> Any:
        try:
            return get_capability(self.client_capabilities, path, default)
        except Exception:
            return default

    @property
    def pull_diagnostics(self) -> bool:
        return self.capability("text_document.diagnostic") is not None

    @property
    def workspace_root(self) -> Path | None:
        try:
            root = self.workspace.root_path
        except RuntimeError:
            return None
        return Path(root) if root else None

    def workspace_folders(self) -> list[Path]:
        """The workspace folders (and root), symlinks resolved: what files the server reads must lie inside."""
        try:
            workspace = self.workspace
        except RuntimeError:
            return []
        uris = [*workspace.folders, *([workspace.root_uri] if workspace.root_uri else [])]
        roots = []
        for uri in uris:
            path = uri_to_path(uri)
            if path is not None and path.is_absolute():
                try:
                    roots.append(path.resolve())
                except (OSError, RuntimeError):
                    continue
        return list(dict.fromkeys(roots))

    def readable(self, path: Path, near: Path | None = None) -> bool:
        """May the server read `path` on its own initiative (a training file for TL306)? Only inside a workspace
        folder, symlinks followed; for a document opened from outside every folder (`near`), inside its folder."""
        roots = self.workspace_folders()
        if near is not None and not inside(near, roots):
            with contextlib.suppress(OSError, RuntimeError):
                roots = [*roots, near.parent.resolve()]
        return inside(path, roots)

    def has_command(self, name: str) -> bool:
        return name in self.protocol.fm.commands

    # --- settings and engines ------------------------------------------------------------------------------------
    def settings_for(self, uri: str | None) -> Settings:
        """Settings for a document: project config near the file, then the editor's settings."""
        return self.config.settings_for(uri_to_path(uri) if uri else None)

    async def engine_for(self, uri: str | None) -> Engine:
        """The Engine for a document's settings (built on the analysis thread when new)."""
        path = uri_to_path(uri) if uri else None
        return await self.scheduler.run(self.config.engine_for, path)

    @property
    def settings(self) -> Settings:
        """The workspace's settings (for work that is not about one file)."""
        return self.config.settings_for(None)

    @property
    def engine(self) -> Engine:
        """The workspace's Engine. May load a tiktoken encoding on first use: prefer `await engine_for(None)`."""
        return self.config.engine_for(None)

    async def wait_configured(self) -> None:
        if self._configured is None:
            return
        try:
            await asyncio.wait_for(self._configured.wait(), 5)
        except asyncio.TimeoutError:
            log.warning("no answer to workspace/configuration after 5 s; using the settings known so far")
            self._configured.set()

    def _settings_problem(self, message: str, error: bool) -> None:
        kind = types.MessageType.Error if error else types.MessageType.Warning
        self.call_on_loop(self.show_message, message, kind)

    # --- talking to the client -------------------------------------------------------------------------------------
    def call_on_loop(self, fn: Callable[..., Any], *args: Any) -> None:
        """Run `fn` on the event loop, from any thread."""
        loop = self.loop
        if loop is None or loop.is_closed():
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            fn(*args)
        else:
            loop.call_soon_threadsafe(fn, *args)

    def show_message(self, message: str, kind: types.MessageType = types.MessageType.Warning) -> None:
        self.window_show_message(types.ShowMessageParams(type=kind, message=message))

    def _log_to_client(self, message: str, level: int) -> None:
        if self.protocol.writer is None:
            return
        kind = _LEVELS.get(level, types.MessageType.Log if level < logging.INFO else types.MessageType.Error)
        self.window_log_message(types.LogMessageParams(type=kind, message=message))

    def publish(self, doc: Document, analysis: Analysis) -> None:
        """Push diagnostics, for clients that do not pull them."""
        self.publish_json(doc, analysis.diagnostics_json)

    def publish_json(self, doc: Document, diagnostics_json: str) -> None:
        """Push diagnostics already encoded as a JSON array, for clients that do not pull them."""
        if self.pull_diagnostics:
            return
        params = f'{{"uri":{json.dumps(doc.uri)},"version":{doc.version},"diagnostics":{diagnostics_json}}}'
        self.tuneline_protocol.send_notification_raw(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, RawJSON(params))

    def clear_diagnostics(self, uri: str) -> None:
        if not self.pull_diagnostics:
            self.tuneline_protocol.send_notification_json(
                types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS, {"uri": uri, "diagnostics": []}
            )

    def refresh_client(self) -> None:
        """Ask the client to re-request what depends on settings (each only if the client supports it)."""
        if self.capability("workspace.diagnostics.refresh_support"):
            self.protocol.send_request(types.WORKSPACE_DIAGNOSTIC_REFRESH, None)
        if self.capability("workspace.code_lens.refresh_support"):
            self.protocol.send_request(types.WORKSPACE_CODE_LENS_REFRESH, None)
        if self.capability("workspace.inlay_hint.refresh_support"):
            self.protocol.send_request(types.WORKSPACE_INLAY_HINT_REFRESH, None)

    # --- datasets -----------------------------------------------------------------------------------------------------
    async def dataset_for(self, uri: str) -> Dataset | None:
        """The analysed Dataset of a document: the editor's text when open (caught up with every edit), else the
        file on disk. None when neither exists. Read what you need before your next `await`: an open document's
        dataset keeps changing with the user's edits."""
        doc = self.documents.get(uri)
        if doc is not None:
            analysis = await self.scheduler.settled(doc)
            return doc.dataset if analysis is not None else None
        path = uri_to_path(uri)
        if path is None or not path.is_file():
            return None
        engine = await self.engine_for(uri)

        def load() -> Dataset:
            return build_dataset(engine, decode_bytes(path.read_bytes()).lines)

        return await asyncio.get_running_loop().run_in_executor(self.thread_pool, load)

    # --- lifecycle -------------------------------------------------------------------------------------------------------
    def attach_loop(self) -> None:
        """Called from `initialize`: remember the loop and start forwarding logs to the client."""
        self.loop = asyncio.get_running_loop()
        self._configured = asyncio.Event()
        handler = ClientLogHandler(lambda message, level: self.call_on_loop(self._log_to_client, message, level))
        logging.getLogger("tuneline").addHandler(handler)

    def mark_configured(self) -> None:
        if self._configured is not None:
            self._configured.set()

    def report_server_error(self, error: Exception, source: Any) -> None:
        """A failure outside a request (a notification handler, the transport). pygls would show the exception's
        text to the user; we log it and show one generic sentence, once per kind of failure."""
        from pygls.exceptions import FeatureRequestError

        if source is FeatureRequestError:
            return  # the request's error response says it (protocol.py keeps it generic)
        log.error("internal error (%s): %s", getattr(source, "__name__", source), error, extra=LOCAL)
        key = getattr(source, "__name__", str(source))
        if key in self._reported or self.protocol.writer is None:
            return
        self._reported.add(key)
        self.show_message(
            "tuneline hit an internal error and carried on; the details are in the server log.",
            types.MessageType.Error,
        )

    # --- transports: our frame reader (wire.py) instead of pygls's ---------------------------------------------------
    def start_io(self, stdin: Any = None, stdout: Any = None) -> None:
        from pygls.io_ import StdoutWriter

        self._stop_event = stop = threading.Event()
        self.protocol.set_writer(StdoutWriter(stdout or sys.stdout.buffer))
        reader = StdinReader(stdin or sys.stdin.buffer, self.thread_pool)
        try:
            asyncio.run(read_loop(stop, reader, self.tuneline_protocol, warm_up))
        except BrokenPipeError:
            log.error("the connection to the client is lost; stopping")
        except (KeyboardInterrupt, SystemExit):
            pass
        finally:
            self.shutdown()

    def start_tcp(self, host: str, port: int) -> None:
        self._stop_event = stop = threading.Event()

        async def connection(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.protocol.set_writer(writer)  # type: ignore[arg-type]
            await read_loop(stop, StreamReader(reader), self.tuneline_protocol, warm_up)
            self.shutdown()

        async def serve() -> None:
            self._server = await asyncio.start_server(connection, host, port)
            async with self._server:
                await self._server.serve_forever()

        with contextlib.suppress(asyncio.CancelledError, KeyboardInterrupt, SystemExit):
            asyncio.run(serve())


def _parse_tcp(value: str) -> tuple[str, int] | None:
    host, _, port = value.rpartition(":")
    try:
        number = int(port)
    except ValueError:
        return None
    if not (0 < number < 65536):
        return None
    return host or "127.0.0.1", number


def run(tcp: str | None = None) -> int:
    """`tuneline serve`: LSP over stdio (the default), or TCP for debugging. Returns the exit code: 0, or 1 when the
    client sent `exit` without `shutdown` (the spec's rule)."""
    setup_logging()
    address = None
    if tcp:
        address = _parse_tcp(tcp)
        if address is None:
            print(f"tuneline: error: --tcp wants HOST:PORT, not {tcp!r}", file=sys.stderr)
            return 2
    server = TunelineServer()
    if address is None:
        log.info("tuneline %s language server on stdio", __version__)
        server.start_io(*claim_stdio())
    else:
        log.info("tuneline %s language server on %s:%d", __version__, *address)
        server.start_tcp(*address)
    return server.exit_code
