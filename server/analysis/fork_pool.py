"""Forked workers that take chunks themselves: `tuneline check`'s way of using every core on Linux.

Why not `ProcessPoolExecutor` here: its workers get their next chunk through two threads of this process (the
executor's manager and its queue's feeder), and those need the GIL, which the compiled engine holds for a whole
chunk's read-ahead (~30–40 ms, no eval-breaker check inside). A worker sat idle 0.7–0.9 s of a 100k-line check
waiting for them (issue #14). Here every process, this one included, takes the next chunk's index from one shared
counter: no thread of this process stands between a worker and its work, and this process analyses chunks until
none are left, so the end of the file waits on at most one chunk per worker.

Workers are forked: they inherit the lines and the chunk bounds, and send back only results, through a queue whose
feeder thread is theirs. A chunk a worker does not deliver, because it died or its analysis raised, is analysed
here: a worker killed between chunks costs time, never a hang or a missing line, and a rule's bug raises here with
its traceback. (One window is not covered, as with `ProcessPoolExecutor`: a worker killed while it holds the claim
lock or is halfway through writing a result leaves the others, or this process's read, waiting.)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .collector import tune_for_batch
from .config import Settings
from .engine import Engine
from .types import LineResult

POLL_SECONDS = 0.05  # how often a wait for results looks whether the workers are still alive

Bounds = list[tuple[int, int]]


class _Claims:
    """The next chunk index, shared by this process and its forked workers."""

    def __init__(self, ctx: Any, first: int) -> None:
        self._value = ctx.RawValue("q", first)
        self._lock = ctx.Lock()

    def take(self) -> int:
        with self._lock:
            index = self._value.value
            self._value.value = index + 1
        return index


def _work(settings: Settings, details: bool, lines: list[str], bounds: Bounds, claims: _Claims, results: Any) -> None:
    """A worker: claim, analyse, send, until the chunks run out. A chunk whose analysis raises is sent back as None
    (the parent analyses it again and raises there), and the worker stops."""
    tune_for_batch()
    engine = Engine(settings, details=details)
    while (index := claims.take()) < len(bounds):
        start, end = bounds[index]
        try:
            out: list[LineResult] | None = engine.analyze_lines(lines[start:end])
        except Exception:
            out = None
        results.put((index, out))
        if out is None:
            break
    results.close()
    results.join_thread()  # everything sent is in the pipe before this process ends


def analyze_forked(
    engine: Engine,
    lines: list[str],
    bounds: Bounds,
    workers: int,
    settle: Callable[[int, list[LineResult]], None],
) -> None:
    """Analyse `lines` in the chunks `bounds`, here and in `workers` forked processes. `settle(index, results)`
    hears each chunk's results once, as they arrive (in no particular order), from this thread."""
    import multiprocessing  # only for a file big enough for workers (~14 ms at startup)
    import queue

    ctx = multiprocessing.get_context("fork")
    claims = _Claims(ctx, 1)  # chunk 0 is this process's: the top of the file never waits on a worker
    results = ctx.Queue()
    procs = [
        ctx.Process(
            target=_work, args=(engine.settings, engine.context.details, lines, bounds, claims, results), daemon=True
        )
        for _ in range(workers)
    ]
    have: set[int] = set()

    def deliver(index: int, out: list[LineResult] | None) -> None:
        if out is None:  # the worker's analysis raised, or it died with the chunk: analysed (and raised) here
            start, end = bounds[index]
            out = engine.analyze_lines(lines[start:end])
        have.add(index)
        settle(index, out)

    def drain(block: bool) -> int:
        """Deliver what the workers sent; with `block`, wait up to POLL_SECONDS for the first. How many."""
        n = 0
        while True:
            try:
                index, out = results.get(block and n == 0, POLL_SECONDS)
            except queue.Empty:
                return n
            deliver(index, out)
            n += 1

    try:
        for proc in procs:
            proc.start()
        index = 0
        while index < len(bounds):
            deliver(index, None)
            drain(False)
            index = claims.take()
        while len(have) < len(bounds):
            if not drain(True) and not any(p.is_alive() for p in procs):
                drain(False)  # what they sent before they ended
                for index in range(len(bounds)):
                    if index not in have:
                        deliver(index, None)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
        for proc in procs:
            proc.join()
        results.close()
