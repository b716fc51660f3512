"""Analysing a large file on all cores from inside the server.

Forking the server is unsafe: pygls's reader thread sits in `stdin.read()` holding the buffer's lock, and every
forked child deadlocks when multiprocessing closes its inherited stdin. So the engine's workers are started from
a clean `forkserver` process (which imports the engine and loads the default encoding once, see
worker_preload.py) instead.
"""

from __future__ import annotations

import multiprocessing

from tuneline.analysis import Engine, LineResult
from tuneline.analysis.parallel import analyze_many


def _context() -> multiprocessing.context.BaseContext:
    try:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload(["tuneline.lsp.worker_preload"])  # the engine and the o200k encoding
        return ctx
    except ValueError:  # no forkserver on this platform
        return multiprocessing.get_context("spawn")


def analyze_lines(engine: Engine, lines: list[str], jobs: int | None = None) -> list[LineResult]:
    """Results for `lines`, computed in worker processes for large inputs (and remembered by `engine`)."""
    return analyze_many(engine, lines, jobs=jobs, mp_context=_context())
