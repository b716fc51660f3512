"""The background pass for near duplicates (TL302) and train/validation overlap (TL306) in open documents.

The fast diagnostics come first; this pass runs after them, on its own thread, debounced, with work-done progress
("Embedding 3,200 / 10,000 examples") that the user can cancel. Its results are merged into the document's
findings as external findings, so the next diagnostics carry them; if the text changed meanwhile they are dropped
and the pass runs again. Each document keeps one detector keyed by example text: an edit embeds only the new text
(and reopening a file reads embeddings from the disk cache).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tuneline.analysis import Finding, Settings
from tuneline.analysis.lines import decode_bytes
from tuneline.fileio import FileRefused, open_regular
from tuneline.fswatch import WatchThread
from tuneline.neardup.checks import line_texts, overlap_findings
from tuneline.neardup.pairing import training_partner, validation_partners

from ..progress import WorkDone

if TYPE_CHECKING:
    from ..documents import Document
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")
DELAY_SECONDS = 0.6
EMBED_EXTRA_NOTE = " (Lexical tier. To find paraphrases too, install the semantic tier: pip install 'tuneline[embed]'.)"
SEMANTIC_SETTING_NOTE = ' (Lexical tier. Set "nearDuplicates": "semantic" to find paraphrases too.)'


@dataclass
class _State:
    detector: Any = None  # a NearDuplicateDetector (imported when a tier first runs: it needs numpy)
    detector_key: tuple[Any, ...] = ()
    done_version: int | None = None
    timer: asyncio.TimerHandle | None = None
    task: asyncio.Task | None = None
    merge: asyncio.Future | None = None
    warned: bool = False
    outside: bool = False  # told the log once that the training file lies outside the workspace
    note: str = ""
    keys: set[str] = field(default_factory=set)
    train: Path | None = None  # the training file the last pass read: its deletion must reach this document too


class NearDuplicatePass:
    def __init__(self, server: TunelineServer) -> None:
        self.server = server
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="tuneline-neardup")
        self.states: dict[str, _State] = {}
        self._watcher: WatchThread | None = None  # for clients that cannot watch files
        self._closer: asyncio.Task | None = None

    # --- when to run -----------------------------------------------------------------------------------------
    def wanted(self, doc: Document, settings: Settings) -> bool:
        return settings.near_duplicates != "off" or self._training_file(doc, settings) is not None

    def after_analysis(self, doc: Document) -> None:
        """Called on the event loop after each published analysis."""
        state = self.states.setdefault(doc.uri, _State())
        if state.done_version == doc.version:
            return  # the analysis that merged our own results
        self._watch_disk()
        settings = self.server.settings_for(doc.uri)
        if not self.wanted(doc, settings):
            if state.keys:
                self._apply(doc, doc.version, {})
            return
        if state.timer is not None:
            state.timer.cancel()
        loop = asyncio.get_running_loop()
        state.timer = loop.call_later(DELAY_SECONDS, self._start, doc)

    def _watch_disk(self) -> None:
        """Clients that cannot watch files (no dynamic registration of didChangeWatchedFiles, e.g. Neovim 0.7) get
        the same from the server: one thread watches the folders of the open datasets and the training files their
        overlap check reads (file notifications through watchfiles; a slow poll where the platform cannot notify),
        so a training file that changes, goes or comes back is seen. The thread ends when nothing is open and when
        the server's event loop ends."""
        if self.server.capability("workspace.did_change_watched_files.dynamic_registration"):
            return
        if self._watcher is None:
            loop = asyncio.get_running_loop()

            def changed(paths: set[Path]) -> None:  # on the watching thread
                with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                    loop.call_soon_threadsafe(self._disk_changed, paths)

            self._watcher = WatchThread(changed, name="tuneline-training-files")
            self._closer = asyncio.ensure_future(self._close_at_exit())
        paths: set[Path] = set()
        for doc in self.server.documents:
            if doc.path is not None:
                paths.add(doc.path.parent)
                train = self._training_file(doc, self.server.settings_for(doc.uri))
                if train is not None:
                    paths.add(train)
        self._watcher.watch(paths)

    async def _close_at_exit(self) -> None:
        """Waits until the server's event loop ends (which cancels it), then stops the watching thread."""
        try:
            await asyncio.get_running_loop().create_future()
        finally:
            if self._watcher is not None:
                self._watcher.close()

    def _disk_changed(self, paths: set[Path]) -> None:
        """On the event loop: files changed in the watched folders. Open documents report their own edits."""
        open_docs = {d.path for d in self.server.documents if d.path is not None}
        for path in paths:
            if path in open_docs:
                continue
            if path.is_dir():  # the poll fallback: something in this folder came or went
                for doc in self.server.documents:
                    if doc.path is not None and doc.path.parent == path:
                        self._restart(doc)
            elif path.name.endswith(".jsonl"):
                self.file_changed(path)

    def closed(self, uri: str) -> None:
        state = self.states.pop(uri, None)
        if state is not None:
            if state.timer is not None:
                state.timer.cancel()
            if state.task is not None:
                state.task.cancel()
        if self._watcher is not None:
            self._watch_disk()

    def file_changed(self, path: Path) -> None:
        """A file on disk changed, came or went (watched files): re-check open validation files whose training
        file it is, or was at their last pass."""
        try:
            changed = path.resolve()
        except (OSError, RuntimeError):
            return
        for doc in self.server.documents:
            settings = self.server.settings_for(doc.uri)
            train = self._training_file(doc, settings)
            state = self.states.get(doc.uri)
            before = state.train if state is not None else None
            with contextlib.suppress(OSError, RuntimeError):
                if (train is not None and train.resolve() == changed) or (before is not None and before == changed):
                    self._restart(doc)

    def document_edited(self, doc: Document) -> None:
        """An open training file changed: its open validation files need the overlap check again."""
        if doc.path is None:
            return
        partners = {p.resolve() for p in validation_partners(doc.path)}
        for other in self.server.documents:
            if other is not doc and other.path is not None and other.path.resolve() in partners:
                self._restart(other)

    def _restart(self, doc: Document) -> None:
        state = self.states.setdefault(doc.uri, _State())
        state.done_version = None
        self.after_analysis(doc)

    def _training_file(self, doc: Document, settings: Settings) -> Path | None:
        """The training file this document is the validation split of: by the `validationFile` setting (the other
        open dataset is the training file) or by name (valid.jsonl -> train.jsonl).

        The server reads that file on its own, so it must resolve inside a workspace folder (symlinks followed;
        for a document opened from outside every folder, inside the document's folder): a repository's
        `train.jsonl` that links to a file elsewhere on the machine is not read."""
        if doc.path is None:
            return None
        found: Path | None = None
        if settings.validation_file:
            validation = Path(settings.validation_file)
            if not validation.is_absolute():
                validation = (self.server.workspace_root or doc.path.parent) / validation
            with contextlib.suppress(OSError, RuntimeError):
                if validation.resolve() == doc.path.resolve():
                    found = next((o.path for o in self.server.documents if o is not doc and o.path is not None), None)
        if found is None:
            try:
                found = training_partner(doc.path)
            except (OSError, RuntimeError):
                return None
        if found is None:
            return None
        if not self.server.readable(found, doc.path):
            self._refuse_once(doc, found)
            return None
        return found

    def _refuse_once(self, doc: Document, path: Path) -> None:
        state = self.states.setdefault(doc.uri, _State())
        if not state.outside:
            state.outside = True
            log.warning("not reading %s for %s: it resolves outside the workspace folders", path, doc.uri)

    def _start(self, doc: Document) -> None:
        state = self.states.get(doc.uri)
        if state is None or self.server.documents.get(doc.uri) is not doc:
            return
        state.timer = None
        if state.task is not None and not state.task.done():
            state.task.cancel()
        state.task = asyncio.ensure_future(self._run(doc, state))

    # --- the pass ------------------------------------------------------------------------------------------------
    async def _run(self, doc: Document, state: _State) -> None:
        version = doc.version
        lines = doc.buffer.dataset_lines()
        settings = self.server.settings_for(doc.uri)
        train_path = self._training_file(doc, settings)
        train_lines = None
        with contextlib.suppress(OSError, RuntimeError):
            state.train = train_path.resolve() if train_path is not None else None
        if train_path is not None:
            train_doc = next(
                (d for d in self.server.documents if d.path and d.path.resolve() == train_path.resolve()), None
            )
            train_lines = train_doc.buffer.dataset_lines() if train_doc is not None else None
        loop = asyncio.get_running_loop()
        try:
            async with WorkDone(self.server, "tuneline: near duplicates") as progress:

                def report(done: int, total: int) -> None:
                    pct = int(100 * done / total) if total else 100
                    loop.call_soon_threadsafe(progress.report, f"Embedding {done:,} / {total:,} examples", pct)

                def cancelled() -> bool:
                    return progress.cancelled or self.server.documents.get(doc.uri) is not doc

                found = await loop.run_in_executor(
                    self.executor, self._compute, state, lines, settings, train_path, train_lines, report, cancelled
                )
        except asyncio.CancelledError:
            return
        except Exception as exc:
            from tuneline.neardup.semantic import Cancelled

            if isinstance(exc, Cancelled):
                log.info("near-duplicate pass for %s cancelled", doc.uri)
                state.done_version = version  # not again until the next edit
                return
            log.exception("near-duplicate pass for %s failed", doc.uri)
            self.server.show_message(f"tuneline: near-duplicate check failed: {exc}")
            state.done_version = version
            return
        if self.server.documents.get(doc.uri) is not doc or doc.version != version:
            return  # stale: the analysis of the newer text schedules another pass
        self._apply(doc, version, found)

    def _apply(self, doc: Document, version: int, found: dict[str, list[Finding]]) -> None:
        state = self.states.setdefault(doc.uri, _State())
        state.keys = {k for k, v in found.items() if v}
        state.done_version = version

        def merge() -> None:
            if doc.dataset is not None:
                for source in ("near-duplicates", "overlap"):
                    doc.dataset.set_external(source, found.get(source, []))

        async def go() -> None:
            await self.server.scheduler.run(merge)
            self.server.scheduler.refresh(doc)
            if self.server.pull_diagnostics and self.server.capability("workspace.diagnostics.refresh_support"):
                await self.server.scheduler.settled(doc)
                self.server.refresh_client()

        state.merge = asyncio.ensure_future(go())

    def _compute(
        self,
        state: _State,
        lines: list[str],
        settings: Settings,
        train_path: Path | None,
        train_lines: list[str] | None,
        report,
        cancelled,
    ) -> dict[str, list[Finding]]:
        """Worker thread: update the detector with this text's examples and turn pairs into findings."""
        from tuneline.neardup.lexical import NearDuplicatesUnavailable

        out: dict[str, list[Finding]] = {}
        detector = None
        if settings.near_duplicates != "off":
            try:
                detector = self._detector(state, settings)
            except NearDuplicatesUnavailable as exc:
                if not state.warned:
                    state.warned = True
                    self.server.call_on_loop(self.server.show_message, f"tuneline: {exc}")
        if detector is not None:
            texts = line_texts(lines)
            first_line: dict[str, int] = {}
            for i, t in texts.items():
                first_line.setdefault(t, i)
            current = set(first_line)
            stale = [(t, None) for t in detector.ids() if t not in current]
            detector.update([*stale, *((t, t) for t in current)], report, cancelled)
            from tuneline.neardup.checks import pair_findings

            found = pair_findings(detector.pairs(cancelled), first_line.__getitem__, lambda i: len(lines[i]))
            if state.note:
                found = [
                    Finding(f.code, f.message + state.note, f.line, f.span, f.fix, f.related, f.severity) for f in found
                ]
            out["near-duplicates"] = found
        if train_path is not None:
            if train_lines is None:
                try:
                    with open_regular(train_path) as fh:  # never a FIFO or a device: they would hang the pass
                        train_lines = decode_bytes(fh.read()).lines
                except (OSError, FileRefused) as exc:
                    log.info("cannot read training file %s: %s", train_path, exc)
                    train_lines = []
            overlap_detector = detector.fresh() if detector is not None else None
            out["overlap"] = overlap_findings(lines, train_lines, train_path, overlap_detector, report, cancelled)
        return out

    def _detector(self, state: _State, settings: Settings) -> Any:
        """The document's NearDuplicateDetector for these settings. Raises NearDuplicatesUnavailable."""
        from tuneline.neardup.embedding_models import EmbeddingUnavailable, semantic_available
        from tuneline.neardup.policy import build_detector

        key = (settings.near_duplicates, settings.embedding_model, settings.near_duplicate_threshold)
        if state.detector is not None and state.detector_key == key:
            return state.detector
        state.note = ""
        mode = settings.near_duplicates
        detector = None
        if mode == "semantic":
            try:
                detector = build_detector("semantic", settings)
            except (EmbeddingUnavailable, ImportError) as exc:
                self.server.call_on_loop(self.server.show_message, f"tuneline: {exc}; using the lexical tier")
                state.note = EMBED_EXTRA_NOTE if "embed" in str(exc) else ""
        if detector is None:
            detector = build_detector("lexical", settings)
            if mode != "semantic":
                state.note = EMBED_EXTRA_NOTE if not semantic_available() else SEMANTIC_SETTING_NOTE
        state.detector, state.detector_key = detector, key
        return detector


def register(server: TunelineServer) -> NearDuplicatePass:
    """Attach the pass to the server (the scheduler and the watched-files handler call it)."""
    near = NearDuplicatePass(server)
    server.near_duplicates = near  # type: ignore[attr-defined]
    return near
