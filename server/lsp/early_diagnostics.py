"""Diagnostics of a large file's first lines while the rest of its first analysis goes on.

Opening a 100k-line file costs seconds of analysis (as much as `tuneline check` of it), and the editor shows the
top of the file at once. So as the analysed lines join the dataset in order, the problems found on them are
published every `EVERY_SECONDS`: the user sees the squiggles where they are looking in a fraction of the time,
then the complete report (file-level findings included) replaces them as usual. Only line findings are published
early (`Dataset.line_findings_so_far`): a file-level verdict on part of a file could be wrong.

The callback runs on the analysis thread (where the dataset and the diagnostic cache live) and hands the encoded
diagnostics to the event loop, which publishes them only if the document is still at the version analysed and
nothing has been published for it yet. The loop runs callbacks in the order they were scheduled, and the complete
report is scheduled after the last of these, so an early set never replaces the complete one.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

from tuneline.analysis import Dataset, Finding

log = logging.getLogger("tuneline.lsp.early")

EVERY_SECONDS = 1.0  # between two early publications of one document (each walks the lines analysed so far)


class EarlyDiagnostics:
    """`on_progress` for `build_dataset`: publishes the findings of the lines analysed so far, now and then."""

    def __init__(
        self,
        total_lines: int,
        per_code: int,
        encode: Callable[[Finding, list[str]], str],
        publish: Callable[[str], None],
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.total_lines = total_lines
        self.per_code = per_code
        self.encode = encode
        self.publish = publish  # on the event loop, with the diagnostics' JSON array
        self.loop = loop
        self._last_time: float | None = None
        self._last_count = 0
        self._failed = False

    def __call__(self, dataset: Dataset, lines_done: int) -> None:
        if self._failed or lines_done >= self.total_lines:
            return  # the complete report follows at once
        now = time.perf_counter()
        if self._last_time is not None and now - self._last_time < EVERY_SECONDS:
            return
        self._last_time = now  # every walk counts, published or not: a clean file must not be walked per chunk
        try:
            found = dataset.line_findings_so_far(self.per_code)
            if not found or len(found) <= self._last_count:
                return  # nothing new to show: an empty set would only claim the unread rest is clean
            self._last_count = len(found)
            texts = dataset.texts
            body = "[" + ",".join(self.encode(f, texts) for f in found) + "]"
        except Exception:  # early diagnostics are a courtesy: never let them fail the analysis itself
            log.exception("early diagnostics failed; the complete report follows as usual")
            self._failed = True
            return
        self.loop.call_soon_threadsafe(self.publish, body)
