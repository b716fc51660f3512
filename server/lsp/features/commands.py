"""`workspace/executeCommand`: `tuneline.stats`, `tuneline.fixAll`; and the `tuneline/debugTimings` request."""

from __future__ import annotations

import asyncio
import logging
import os
from pathlib import PurePosixPath
from typing import TYPE_CHECKING, Any

from lsprotocol import types
from lsprotocol.converters import get_converter
from pygls.exceptions import JsonRpcInvalidParams

from tuneline.analysis import Dataset

from .. import stats
from ..documents import uri_to_path
from ..linebuffer import LineBuffer
from ..progress import WorkDone
from ..workspace_edits import fix_all, workspace_edit
from .code_actions import fix_all_action

if TYPE_CHECKING:
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")
_CONVERTER = get_converter()


def _uri_argument(args: tuple[Any, ...]) -> str:
    """Commands take `[uri]` (contracts.md); `[{"uri": ...}]` is accepted too."""
    value = args[0] if args else None
    if isinstance(value, dict):
        value = value.get("uri")
    if not isinstance(value, str) or not value:
        raise JsonRpcInvalidParams("The command expects the document's URI as its first argument.")
    return value


def _rss_mb() -> float | None:
    try:
        with open(f"/proc/{os.getpid()}/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def register(server: TunelineServer) -> None:
    @server.command("tuneline.stats")
    async def stats_command(ls, *args: Any) -> str | None:  # no annotation: pygls resolves these at run time
        uri = _uri_argument(args)
        name = PurePosixPath(uri).name or uri
        async with WorkDone(ls, f"tuneline: statistics for {name}") as progress:
            doc = ls.documents.get(uri)
            if doc is not None:
                snap = await ls.scheduler.read(
                    doc,
                    lambda d, a: stats.snapshot(name, d.dataset, a.all_findings(d.dataset)),  # type: ignore[arg-type]
                )
            else:
                dataset = await ls.dataset_for(uri)
                snap = None if dataset is None else stats.snapshot(name, dataset, dataset.findings())
            if snap is None:
                ls.show_message(f"tuneline: cannot read {uri}.", types.MessageType.Error)
                return None
            loop = asyncio.get_running_loop()

            def report(message: str, percent: int) -> bool:
                loop.call_soon_threadsafe(progress.report, message, percent)
                return not progress.cancelled

            costs = await loop.run_in_executor(ls.thread_pool, stats.model_costs, snap, report)
            return stats.render(snap, costs)

    @server.command("tuneline.fixAll")
    async def fix_all_command(ls, *args: Any) -> int:
        uri = _uri_argument(args)
        async with WorkDone(ls, "tuneline: fix all") as progress:
            doc = ls.documents.get(uri)
            if doc is not None:
                await ls.scheduler.settled(doc)
                edit, count = fix_all_action(ls, doc)
            else:
                edit, count = await _fix_all_on_disk(ls, uri)
            if edit is None:
                return 0
            progress.report(f"applying {count} fixes", 50)
            response = await ls.workspace_apply_edit_async(
                types.ApplyWorkspaceEditParams(
                    edit=_CONVERTER.structure(edit, types.WorkspaceEdit), label="tuneline: fix all"
                )
            )
            if not response.applied:
                log.info("the client did not apply the fixes: %s", response.failure_reason)
                return 0
            return count

    @server.feature("tuneline/debugTimings")
    def debug_timings(ls: TunelineServer, params: Any) -> dict[str, Any]:
        """Server-side timings of recent opens and edits (see docs/lsp.md); `{"clear": true}` empties the list."""
        timings = list(ls.scheduler.timings)
        clear = params.get("clear") if isinstance(params, dict) else getattr(params, "clear", False)
        if clear:
            ls.scheduler.timings.clear()
        return {"timings": timings, "peakRssMb": _rss_mb()}


async def _fix_all_on_disk(ls: TunelineServer, uri: str) -> tuple[dict[str, Any] | None, int]:
    path = uri_to_path(uri)
    if path is None or not path.is_file():
        return None, 0
    engine = await ls.engine_for(uri)

    def compute() -> tuple[dict[str, Any] | None, int]:
        buffer = LineBuffer(path.read_bytes().decode("utf-8", errors="replace"))
        dataset = Dataset(engine, buffer.dataset_lines())
        edits, count = fix_all(buffer.lines, dataset.texts, dataset.findings())
        return (workspace_edit(ls, uri, None, edits), count) if count else (None, 0)

    return await asyncio.get_running_loop().run_in_executor(ls.thread_pool, compute)
