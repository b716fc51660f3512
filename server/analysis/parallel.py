"""Analysing many lines on all cores. Lines are independent, so chunks go to worker processes while this process
analyses its own share.

Small inputs stay in-process: starting workers costs more than it saves below a few megabytes. Callers that must
not fork (a language server whose reader thread holds stdin) pass a `forkserver` or `spawn` context.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from .config import Settings
from .engine import Engine
from .types import LineResult

MIN_BYTES_FOR_WORKERS = 4_000_000
CHUNK_LINES = 2_000
_worker_engine: Engine | None = None


def _init(settings: Settings) -> None:
    global _worker_engine
    _worker_engine = Engine(settings)


def _run(lines: list[str]) -> list[LineResult]:
    assert _worker_engine is not None
    return [_worker_engine.analyze_line(t) for t in lines]


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def analyze_many(
    engine: Engine,
    lines: list[str],
    *,
    jobs: int | None = None,
    mp_context: multiprocessing.context.BaseContext | None = None,
) -> list[LineResult]:
    """Results for `lines` in order (remembered by `engine`'s cache)."""
    jobs = default_jobs() if jobs is None else max(1, jobs)
    if jobs == 1 or sum(map(len, lines)) < MIN_BYTES_FOR_WORKERS:
        return [engine.analyze_line(t) for t in lines]
    chunks = [lines[i : i + CHUNK_LINES] for i in range(0, len(lines), CHUNK_LINES)]
    own = len(chunks) // jobs  # this process's share: the first chunks, analysed while the workers start and run
    analyze, remember = engine.analyze_line, engine.remember
    with ProcessPoolExecutor(
        max_workers=jobs - 1, mp_context=mp_context, initializer=_init, initargs=(engine.settings,)
    ) as pool:
        futures = [pool.submit(_run, chunk) for chunk in chunks[own:]]
        results = [analyze(t) for chunk in chunks[:own] for t in chunk]
        for chunk, future in zip(chunks[own:], futures):
            chunk_results = future.result()
            for text, result in zip(chunk, chunk_results):
                remember(text, result)
            results.extend(chunk_results)
    return results
