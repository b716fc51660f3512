"""Logging: to stderr, and tuneline's own records to the client's `window/logMessage`. Never stdout.

pygls logs every message it sends at INFO; its logger is held at WARNING and its records never go to the client
(a log message about sending a log message would loop). Records logged with `extra=LOCAL` (an internal error's
exception text) stay on stderr too: the client gets one generic sentence instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Callable

_FORMAT = "tuneline-lsp %(levelname)s %(name)s: %(message)s"
LOCAL = {"tuneline_local": True}


class ClientLogHandler(logging.Handler):
    """Forwards `tuneline.*` records to a callback that sends `window/logMessage` (thread-safe by contract)."""

    def __init__(self, send: Callable[[str, int], None]) -> None:
        super().__init__(logging.INFO)
        self._send = send
        self.setFormatter(logging.Formatter("%(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        if not record.name.startswith("tuneline") or getattr(record, "tuneline_local", False):
            return
        with contextlib.suppress(Exception):  # a closed transport while shutting down: stderr still has it
            self._send(self.format(record), record.levelno)


def setup_logging() -> None:
    level = os.environ.get("TUNELINE_LOG", "INFO").upper()
    root = logging.getLogger()
    for handler in list(root.handlers):
        root.removeHandler(handler)
    stderr = logging.StreamHandler(sys.stderr)
    stderr.setFormatter(logging.Formatter(_FORMAT))
    root.addHandler(stderr)
    root.setLevel(logging.WARNING)
    logging.getLogger("tuneline").setLevel(getattr(logging, level, logging.INFO))
    logging.getLogger("pygls").setLevel(logging.WARNING)
