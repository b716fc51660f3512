"""Analysing a large file on all cores from inside the server.

Forking the server is unsafe: pygls's reader thread sits in `stdin.read()` holding the buffer's lock, and every
forked child deadlocks when multiprocessing closes its inherited stdin. So the engine's workers are started from
a clean `forkserver` process (which imports the engine and loads the default encoding once, see
worker_preload.py) instead.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import threading
from collections.abc import Callable

from tuneline.analysis import Dataset, Engine, LineResult
from tuneline.analysis.parallel import MIN_BYTES_FOR_WORKERS, analyze_many
from tuneline.analysis.rules import text_scan

_warming = threading.Lock()
_warmed = False


def _context() -> multiprocessing.context.BaseContext:
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["tuneline.lsp.worker_preload"])  # the engine and the o200k encoding
        return ctx
    except ValueError:  # no forkserver on this platform
        return multiprocessing.get_context("spawn")


def build_dataset(
    engine: Engine,
    lines: list[str],
    jobs: int | None = None,
    on_progress: Callable[[Dataset, int], None] | None = None,
) -> Dataset:
    """A dataset of `lines` from scratch, analysed in worker processes for large inputs (results remembered by
    `engine`). Each run of lines joins the dataset as soon as it is analysed, so the file-level rules take it in
    while the workers go on, as in `tuneline check`; `on_progress(dataset, lines_done)` hears each run after it
    joined (the first lines, in order)."""
    dataset = Dataset(engine)

    def join(start: int, results: list[LineResult]) -> None:
        dataset.splice(start, start, lines[start : start + len(results)], results)
        if on_progress is not None:
            on_progress(dataset, start + len(results))

    analyze_many(engine, lines, jobs=jobs, mp_context=_context(), on_chunk=join)
    return dataset


def warm_up(message_bytes: int) -> None:
    """A message this large carries a document big enough for the workers: start the forkserver (its preload
    imports the engine and loads o200k, ~0.5 s of one core) while the message is still arriving, instead of after
    it was read and parsed. Once per server; every later large file finds it ready. (Loading tiktoken here at the
    same time was tried: no faster open, and its tables on top of the message in flight raised the peak by 72 MB.)"""
    global _warmed
    if message_bytes < MIN_BYTES_FOR_WORKERS:
        return
    with _warming:
        if _warmed:
            return
        _warmed = True
    threading.Thread(target=_warm, name="tuneline-warm-up", daemon=True).start()


def _warm() -> None:
    with contextlib.suppress(Exception):  # warming is an optimisation: the analysis starts it itself otherwise
        if _context().get_start_method() == "forkserver":
            from multiprocessing import forkserver

            forkserver.ensure_running()
    with contextlib.suppress(Exception):
        text_scan.detectors()  # what `analyze_many` builds before its workers start (~15 ms), done meanwhile
