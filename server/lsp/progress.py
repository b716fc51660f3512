"""Work-done progress for commands: the client's token when it sent one, else one we create (if supported)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from typing import TYPE_CHECKING

from lsprotocol import types

from .protocol import COMMAND_WORK_DONE_TOKEN

if TYPE_CHECKING:
    from .server import TunelineServer

log = logging.getLogger("tuneline.lsp")


class WorkDone:
    """`async with WorkDone(ls, "Title") as p: p.report("…", 40); if p.cancelled: …`"""

    def __init__(self, ls: TunelineServer, title: str) -> None:
        self.ls = ls
        self.title = title
        self.token: int | str | None = None

    async def __aenter__(self) -> WorkDone:
        progress = self.ls.work_done_progress
        token = COMMAND_WORK_DONE_TOKEN.get()
        if token is None and self.ls.capability("window.work_done_progress"):
            token = f"tuneline-{uuid.uuid4().hex}"
            try:
                await asyncio.wait_for(progress.create_async(token), 5)
            except Exception as exc:
                log.info("no work-done progress (%s)", exc)
                token = None
        self.token = token
        if token is not None:
            progress.begin(token, types.WorkDoneProgressBegin(title=self.title, cancellable=True, percentage=0))
        return self

    def report(self, message: str, percentage: int | None = None) -> None:
        if self.token is not None:
            self.ls.work_done_progress.report(
                self.token, types.WorkDoneProgressReport(message=message, percentage=percentage, cancellable=True)
            )

    @property
    def cancelled(self) -> bool:
        if self.token is None:
            return False
        future = self.ls.work_done_progress.tokens.get(self.token)
        return future is not None and future.cancelled()

    async def __aexit__(self, exc_type, exc, _tb) -> None:
        if self.token is None:
            return
        message = "cancelled" if self.cancelled or exc_type is asyncio.CancelledError else "done"
        if exc_type is not None and exc_type is not asyncio.CancelledError:
            message = "failed"
        self.ls.work_done_progress.end(self.token, types.WorkDoneProgressEnd(message=message))
        self.ls.work_done_progress.tokens.pop(self.token, None)
