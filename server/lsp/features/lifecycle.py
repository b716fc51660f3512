"""Initialisation and settings: initializationOptions, workspace/configuration, config file changes."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from ..documents import uri_to_path
from ..trust import trusted_from

if TYPE_CHECKING:
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")
SECTION = "tuneline"
CONFIG_FILES = ("**/tuneline.toml", "**/pyproject.toml")
DATASET_FILES = ("**/*.jsonl",)  # a training file on disk changes: re-check the open validation files (TL306)


async def fetch_configuration(ls: TunelineServer) -> None:
    """Ask the client for the `tuneline` section (clients without workspace/configuration keep init options)."""
    if not ls.capability("workspace.configuration"):
        return
    try:
        result = await asyncio.wait_for(
            ls.workspace_configuration_async(
                types.ConfigurationParams(items=[types.ConfigurationItem(section=SECTION)])
            ),
            5,
        )
    except Exception as exc:
        log.warning("workspace/configuration failed (%s); keeping the settings known so far", exc)
        return
    value = result[0] if isinstance(result, (list, tuple)) and result else None
    ls.config.set_configuration(value if isinstance(value, dict) else {})


def relint_all(ls: TunelineServer) -> None:
    for doc in ls.documents:
        ls.scheduler.refresh(doc)
    ls.refresh_client()


def _register_watchers(ls: TunelineServer) -> None:
    registrations = []
    if ls.capability("workspace.did_change_configuration.dynamic_registration"):
        registrations.append(
            types.Registration(
                id="tuneline-configuration",
                method=types.WORKSPACE_DID_CHANGE_CONFIGURATION,
                register_options=types.DidChangeConfigurationRegistrationOptions(section=SECTION),
            )
        )
    if ls.capability("workspace.did_change_watched_files.dynamic_registration"):
        registrations.append(
            types.Registration(
                id="tuneline-config-files",
                method=types.WORKSPACE_DID_CHANGE_WATCHED_FILES,
                register_options=types.DidChangeWatchedFilesRegistrationOptions(
                    watchers=[types.FileSystemWatcher(glob_pattern=g) for g in (*CONFIG_FILES, *DATASET_FILES)]
                ),
            )
        )
    if registrations:
        ls.protocol.send_request(
            types.CLIENT_REGISTER_CAPABILITY, types.RegistrationParams(registrations=registrations)
        )


def register(server: TunelineServer) -> None:
    @server.feature(types.INITIALIZE)
    def initialize(ls: TunelineServer, params: types.InitializeParams) -> None:
        ls.attach_loop()
        ls.config.root = ls.workspace_root
        options: Any = params.initialization_options
        ls.trusted = ls.config.trusted = trusted_from(options)  # before any setting is read
        if not ls.trusted:
            log.info("untrusted workspace: settings that name paths or models are ignored, training is off")
        if isinstance(options, dict):
            ls.config.set_initialization_options(options)
            debounce = options.get("debounceMs")
            if isinstance(debounce, (int, float)) and not isinstance(debounce, bool) and 0 <= debounce <= 5000:
                ls.scheduler.debounce = debounce / 1000
        if not ls.capability("workspace.configuration"):
            ls.mark_configured()

    @server.feature(types.INITIALIZED)
    async def initialized(ls: TunelineServer, params: types.InitializedParams) -> None:
        try:
            await fetch_configuration(ls)
        finally:
            ls.mark_configured()
        _register_watchers(ls)
        log.info("tuneline ready (%s diagnostics)", "pull" if ls.pull_diagnostics else "push")

    @server.feature(types.WORKSPACE_DID_CHANGE_CONFIGURATION)
    async def did_change_configuration(ls: TunelineServer, params: types.DidChangeConfigurationParams) -> None:
        if ls.capability("workspace.configuration"):
            await fetch_configuration(ls)
        elif isinstance(params.settings, dict):
            section = params.settings.get(SECTION, params.settings)
            ls.config.set_configuration(section if isinstance(section, dict) else {})
        relint_all(ls)

    @server.feature(types.WORKSPACE_DID_CHANGE_WATCHED_FILES)
    def did_change_watched_files(ls: TunelineServer, params: types.DidChangeWatchedFilesParams) -> None:
        names = {Path(c.uri).name for c in params.changes}
        for change in params.changes:
            path = uri_to_path(change.uri)
            if path is not None and path.suffix == ".jsonl" and change.uri not in ls.documents:
                ls.near_duplicates.file_changed(path)
        if names & {"tuneline.toml", "pyproject.toml"}:
            log.info("project settings changed; re-checking open files")
            ls.config.project_files_changed()
            relint_all(ls)
