"""Analysing many lines on all cores. Lines are independent, so chunks go to worker processes.

Small inputs stay in-process: starting workers costs more than it saves below a few megabytes.
"""

from __future__ import annotations

import os
from concurrent.futures import ProcessPoolExecutor

from .engine import Engine
from .types import LineResult

_MIN_BYTES_FOR_WORKERS = 4_000_000
_CHUNK_LINES = 2_000
_worker_engine: Engine | None = None


def _init(settings) -> None:
    global _worker_engine
    _worker_engine = Engine(settings)


def _run(lines: list[str]) -> list[LineResult]:
    assert _worker_engine is not None
    return [_worker_engine.analyze_line(t) for t in lines]


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def analyze_many(engine: Engine, lines: list[str], *, jobs: int | None = None) -> list[LineResult]:
    jobs = default_jobs() if jobs is None else max(1, jobs)
    size = sum(len(t) for t in lines) if jobs > 1 else 0
    if jobs == 1 or size < _MIN_BYTES_FOR_WORKERS:
        return [engine.analyze_line(t) for t in lines]
    chunks = [lines[i : i + _CHUNK_LINES] for i in range(0, len(lines), _CHUNK_LINES)]
    results: list[LineResult] = []
    with ProcessPoolExecutor(max_workers=jobs, initializer=_init, initargs=(engine.settings,)) as pool:
        for chunk, chunk_results in zip(chunks, pool.map(_run, chunks)):
            for text, result in zip(chunk, chunk_results):
                engine.remember(text, result)
            results.extend(chunk_results)
    return results
