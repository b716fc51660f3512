"""Analysing a large file on all cores from inside the server.

`tuneline.analysis.parallel.analyze_many` forks worker processes. Forking the server is unsafe: pygls's reader
thread sits in `stdin.read()` holding the buffer's lock, and every forked child deadlocks when multiprocessing
closes its inherited stdin. So the server starts its workers from a clean `forkserver` process (which imports
the engine once) instead; each worker builds its own Engine from the settings and sends results back.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from tuneline.analysis import Engine, LineResult, Settings

MIN_BYTES = 4_000_000  # below this, starting workers costs more than it saves
CHUNK_LINES = 2_000
_engine: Engine | None = None


def _init(settings: Settings) -> None:
    global _engine
    _engine = Engine(settings)


def _run(lines: list[str]) -> list[LineResult]:
    assert _engine is not None
    return [_engine.analyze_line(t) for t in lines]


def _context() -> multiprocessing.context.BaseContext:
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["tuneline.analysis", "tiktoken"])
        return ctx
    except ValueError:  # no forkserver on this platform
        return multiprocessing.get_context("spawn")


def analyze_lines(engine: Engine, lines: list[str], jobs: int | None = None) -> list[LineResult]:
    """Results for `lines`, computed in worker processes for large inputs (and remembered by `engine`)."""
    jobs = jobs if jobs is not None else max(1, min(os.cpu_count() or 1, 8))
    if jobs == 1 or sum(map(len, lines)) < MIN_BYTES:
        return [engine.analyze_line(t) for t in lines]
    chunks = [lines[i : i + CHUNK_LINES] for i in range(0, len(lines), CHUNK_LINES)]
    results: list[LineResult] = []
    remember = engine.remember
    with ProcessPoolExecutor(
        max_workers=jobs, mp_context=_context(), initializer=_init, initargs=(engine.settings,)
    ) as pool:
        for chunk, chunk_results in zip(chunks, pool.map(_run, chunks)):
            for text, result in zip(chunk, chunk_results):
                remember(text, result)
            results.extend(chunk_results)
    return results
