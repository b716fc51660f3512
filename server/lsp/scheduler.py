"""When analysis runs: debounced per document, on one analysis thread, with stale results dropped by version.

Every edit is applied to the document's line buffer at once (on the event loop) and queued as a splice. After
the debounce, a job hands the queued splices to the analysis thread, which applies them to the document's
`Dataset` (incremental: the work grows with the edit) and builds the diagnostics. If more edits arrived in the
meantime, the result is kept as the dataset's state but not published, and another job follows.

The debounce adapts to what an analysis of that document costs (`Scheduler.delay`): a few times its recent
incremental analyses, between 20 and 150 ms. A debounce is there so that a burst of keystrokes costs one
analysis, not one each; when an analysis takes 5 ms, waiting 150 ms for that is nearly all of what the user
feels. Waiting k times the cost keeps the analysis thread busy at most 1/k of the time however fast the user
types, and the user sees the diagnostics about (k + 1) times the cost after the last key.

Requests that read a document (hover, symbols, code lens...) run on the same single analysis thread after the
document has caught up (`read`), so they never see a dataset halfway through an update, and never block the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import logging
import time
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from tuneline.analysis import Dataset, Engine
from tuneline.analysis.collector import relaxed

from .convert import DiagnosticCache, EncodedDiagnostics
from .documents import Analysis, Document, Refresh, Reset
from .early_diagnostics import EarlyDiagnostics
from .linebuffer import LineSplice
from .protocol import RawJSON
from .workers import build_dataset

if TYPE_CHECKING:
    from .server import TunelineServer

log = logging.getLogger("tuneline.lsp.scheduler")
T = TypeVar("T")

DEBOUNCE_SECONDS = 0.15  # the longest the debounce gets (and what it is while a document's cost is unknown)
DEBOUNCE_FLOOR_SECONDS = 0.02  # the shortest: changes sent together (an undo, a multi-cursor edit) still coalesce
DEBOUNCE_COST_FACTOR = 3  # wait this many times the analysis cost: the thread is busy at most 1/3 of a burst
LARGE_FILE_LINES = 20_000
# Diagnostics of one code published per document: the first this many, and a note saying how many more
# (analysis/finding_cap.py). `tuneline check` reports every one.
EDITOR_PER_CODE = 1_000


@dataclass
class Hooks:
    """What features run around analysis. The scheduler knows no feature: a feature that follows analysis (the
    near-duplicate pass, say) appends its callbacks here when it registers. Each runs on the event loop."""

    after_analysis: list[Callable[[Document], None]] = field(default_factory=list)  # after diagnostics publish
    edited: list[Callable[[Document], None]] = field(default_factory=list)  # ... when the text changed
    closed: list[Callable[[str], None]] = field(default_factory=list)  # the document's uri, once closed


class Scheduler:
    def __init__(self, server: TunelineServer, debounce: float | None = None) -> None:
        self.server = server
        self.hooks = Hooks()
        # None: adapt to each document's analysis cost; a number of seconds fixes it (the client's `debounceMs`)
        self.debounce = debounce
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="tuneline-analysis")
        self.cache = DiagnosticCache()
        self._generation = itertools.count(1)
        self.timings: deque[dict[str, Any]] = deque(maxlen=10_000)

    # --- triggering --------------------------------------------------------------------------------------------
    def delay(self, doc: Document) -> float:
        """How long to wait after a change of `doc` before analysing it: the fixed debounce when the client set
        one, else `DEBOUNCE_COST_FACTOR` times what its recent analyses cost, within the floor and the ceiling."""
        if self.debounce is not None:
            return self.debounce
        cost = doc.analysis_cost()
        if cost is None:
            return DEBOUNCE_SECONDS
        return min(DEBOUNCE_SECONDS, max(DEBOUNCE_FLOOR_SECONDS, DEBOUNCE_COST_FACTOR * cost))

    def changed(self, doc: Document, delay: float | None = None) -> None:
        """The document changed: analyse it after the debounce (restarted by every further change)."""
        if doc.timer is not None:
            doc.timer.cancel()
        loop = asyncio.get_running_loop()
        doc.debounce = self.delay(doc) if delay is None else delay
        doc.timer = loop.call_later(doc.debounce, self._start, doc)

    def refresh(self, doc: Document) -> None:
        """Re-analyse now without a text change (settings changed)."""
        doc.pending.append(Refresh())
        self.changed(doc, 0)

    def _start(self, doc: Document) -> None:
        doc.timer = None
        if self.server.documents.get(doc.uri) is not doc:
            return  # closed meanwhile
        if doc.job is not None and not doc.job.done():
            doc.rerun = True
            return
        doc.job = asyncio.get_running_loop().create_task(self._run(doc))

    def closed(self, doc: Document) -> None:
        for hook in self.hooks.closed:
            hook(doc.uri)
        if doc.timer is not None:
            doc.timer.cancel()
            doc.timer = None
        for waiter in doc.waiters:
            if not waiter.done():
                waiter.set_result(None)
        doc.waiters.clear()

    # --- waiting -----------------------------------------------------------------------------------------------
    async def settled(self, doc: Document, *, kick: bool = True) -> Analysis | None:
        """The analysis of the document's current text. `kick` skips the debounce (a request is waiting)."""
        if doc.current and (doc.job is None or doc.job.done()):
            return doc.analysis
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future = loop.create_future()
        doc.waiters.append(waiter)
        running = doc.job is not None and not doc.job.done()
        if kick:
            if running:
                doc.rerun = True
            else:
                if doc.timer is not None:
                    doc.timer.cancel()
                    doc.timer = None
                doc.job = loop.create_task(self._run(doc))
        elif doc.timer is None and not running:
            self.changed(doc)
        try:
            return await waiter
        finally:
            if waiter in doc.waiters:
                doc.waiters.remove(waiter)

    async def read(self, doc: Document, fn: Callable[..., T], *args: Any, kick: bool = True) -> T | None:
        """Run `fn(doc, analysis, *args)` on the analysis thread once the document has caught up."""
        analysis = await self.settled(doc, kick=kick)
        if analysis is None or doc.dataset is None:
            return None
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.executor, fn, doc, analysis, *args)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn` on the analysis thread (serialised with analysis jobs)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    # --- the job -----------------------------------------------------------------------------------------------
    async def _run(self, doc: Document) -> None:
        await self.server.wait_configured()
        loop = asyncio.get_running_loop()
        failures = 0
        while self.server.documents.get(doc.uri) is doc:
            doc.rerun = False
            ops, doc.pending = doc.pending, []
            edits, doc.edit_started = doc.edit_started, []
            version = doc.version
            if doc.dataset is None and not any(isinstance(op, Reset) for op in ops):
                ops = [Reset(doc.buffer.dataset_lines())]  # no dataset to splice into: start from the text
            early = self._early(doc, ops, version, loop)
            try:
                analysis = await loop.run_in_executor(self.executor, self._compute, doc, ops, version, early)
            except Exception:
                failures += 1
                log.exception("analysis of %s failed (attempt %d)", doc.uri, failures)
                if failures >= 2:
                    # Give up until the next edit (which rebuilds from the text); the server keeps answering.
                    doc.pending = []
                    doc.dataset = None
                    empty = Analysis(doc.version, next(self._generation), [], [], {}, None)
                    doc.analysis = empty
                    self._finished(doc, empty, [])
                    return
                doc.pending = [Reset(doc.buffer.dataset_lines())]
                continue
            doc.analysis = analysis
            doc.record_cost(analysis.edit_seconds)
            if doc.pending:
                # Edits arrived while we worked: this result is stale. Go on at once if a request waits for it.
                if doc.waiters or doc.rerun:
                    continue
                if doc.timer is None:
                    self.changed(doc)
                return
            analysis.version = doc.version
            self._finished(doc, analysis, edits)
            return

    def _early(
        self, doc: Document, ops: list, version: int, loop: asyncio.AbstractEventLoop
    ) -> EarlyDiagnostics | None:
        """For the first analysis of a large document, diagnostics of its first lines while the rest is analysed."""
        if doc.analysis is not None or self.server.pull_diagnostics:
            return None
        resets = [i for i, op in enumerate(ops) if isinstance(op, Reset)]
        if not resets or any(isinstance(op, LineSplice) for op in ops[resets[-1] :]):
            return None  # edited since it was opened: the lines analysed are not the version's lines
        lines = ops[resets[-1]].lines
        if len(lines) < LARGE_FILE_LINES:
            return None
        uri = doc.uri
        encoded = self.cache.encoded

        def publish(diagnostics_json: str) -> None:  # on the loop
            if self.server.documents.get(uri) is doc and doc.version == version and doc.analysis is None:
                self.server.publish_json(doc, diagnostics_json)

        return EarlyDiagnostics(len(lines), EDITOR_PER_CODE, lambda f, texts: encoded(uri, f, texts), publish, loop)

    def _compute(self, doc: Document, ops: list, version: int, early: EarlyDiagnostics | None = None) -> Analysis:
        """On the analysis thread: bring the dataset up to date and build the diagnostics (publishing the first
        lines' early through `early`, for a large document's first analysis)."""
        started = built = time.perf_counter()
        engine = self.server.config.engine_for(doc.path)
        dataset = doc.dataset
        for op in ops:
            if isinstance(op, Reset):
                dataset = self._build(engine, op.lines, early)
                built = time.perf_counter()
            elif isinstance(op, LineSplice) and dataset is not None:
                dataset.splice(op.start, op.end, op.lines)
        if dataset is None:
            raise RuntimeError("no dataset and no text to build one from")  # _run always queues a Reset
        if dataset.engine is not engine:
            dataset = self._build(engine, list(dataset.texts))
            built = time.perf_counter()
        doc.dataset = dataset
        dropped: Counter[str] = Counter()
        findings = dataset.findings(per_code=EDITOR_PER_CODE, dropped=dropped)
        texts = dataset.texts
        encoded_one = self.cache.encoded
        uri = doc.uri
        # Each diagnostic's JSON text is cached: an edit encodes only the diagnostics it changed or moved, and a
        # diagnostic's dict is parsed only when a feature asks for its line.
        diagnostics = EncodedDiagnostics([encoded_one(uri, f, texts) for f in findings])
        by_line: dict[int, list[int]] = {}
        for i, f in enumerate(findings):
            by_line.setdefault(f.line if f.line is not None else -1, []).append(i)
        encoded = RawJSON(diagnostics.json())
        finished = time.perf_counter()
        return Analysis(
            version,
            next(self._generation),
            findings,
            diagnostics,
            by_line,
            engine,
            finished - started,
            encoded,
            # what an edit's analysis will cost: after a rebuild, only the part an edit repeats (findings onwards)
            finished - built,
            capped=bool(dropped),
        )

    @staticmethod
    def _build(engine: Engine, lines: list[str], early: EarlyDiagnostics | None = None) -> Dataset:
        """A dataset from scratch; large files are analysed on all cores, like `tuneline check`."""
        large = len(lines) >= LARGE_FILE_LINES
        with relaxed() if large else contextlib.nullcontext():
            dataset = build_dataset(engine, lines, on_progress=early)
        if large:
            # Millions of long-lived result objects would make every full garbage collection walk them all
            # (hundreds of ms, in the middle of someone's keystroke). They hold no reference cycles: park them
            # outside the collector's generations.
            gc.freeze()
        return dataset

    def _finished(self, doc: Document, analysis: Analysis, edits: list[tuple[str, int, float, float]]) -> None:
        started = time.perf_counter()
        self.server.publish(doc, analysis)
        publish = time.perf_counter() - started
        for hook in self.hooks.after_analysis:  # slower background passes follow the fast diagnostics
            hook(doc)
        if any(kind == "change" for kind, *_ in edits):
            for hook in self.hooks.edited:
                hook(doc)
        for waiter in doc.waiters:
            if not waiter.done():
                waiter.set_result(analysis)
        doc.waiters.clear()
        for kind, version, apply_seconds, received in edits:
            self.timings.append(
                {
                    "uri": doc.uri,
                    "version": version,
                    "kind": kind,
                    "applyMs": round(apply_seconds * 1000, 3),
                    "analysisMs": round(analysis.seconds * 1000, 3),
                    "publishMs": round(publish * 1000, 3),
                    "serverMs": round((apply_seconds + analysis.seconds + publish) * 1000, 3),
                    "wallMs": round((time.perf_counter() - received) * 1000, 3),
                    "debounceMs": round(doc.debounce * 1000, 3),
                    "diagnostics": len(analysis.diagnostics),
                }
            )
