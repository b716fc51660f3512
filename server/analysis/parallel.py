"""Analysing many lines on all cores. Lines are independent, so chunks go to worker processes while this process
analyses its own share.

Small inputs stay in-process: starting workers costs more than it saves below a few megabytes. Callers that must
not fork (a language server whose reader thread holds stdin) pass a `forkserver` or `spawn` context.

Where the workers are forked (`tuneline check` on Linux, when this process has no other thread; a process with
threads starts them from a forkserver) they inherit the lines and take chunks themselves, from a counter they share
with this process (`fork_pool`): pickling 61 MB of text to them and writing it through a pipe cost this process
~10% of its time, and a pool's threads kept them waiting for work. Otherwise (a forkserver, spawn: the language
server) a `ProcessPoolExecutor` gets each chunk's text, and memory stays bounded however long the lines: a chunk
holds at most `CHUNK_LINES` lines or `CHUNK_BYTES` characters, a longer line is analysed here rather than pickled,
and only a few chunks' worth of text is in flight to the workers at a time, so the pickles never add up to a copy
of the file.
"""

from __future__ import annotations

import os
import sys
from bisect import bisect_right
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from itertools import accumulate
from typing import TYPE_CHECKING

from .collector import tune_for_batch
from .config import Settings
from .engine import Engine
from .fork_pool import Bounds, analyze_forked
from .rules import text_scan
from .thread_switches import prompt_thread_switches
from .types import LineResult

if TYPE_CHECKING:  # multiprocessing and the pool load only for a file big enough for workers (~14 ms at startup)
    import multiprocessing
    from concurrent.futures import Future

MIN_BYTES_FOR_WORKERS = 4_000_000
MAX_JOBS = 64  # `--jobs 100000` would fork that many processes at once
CHUNK_LINES = 1_000
CHUNK_BYTES = 4_000_000
TAIL_PIECES = 4  # the last chunks forked workers claim are cut in this many pieces (`_claim_bounds`)
_worker_engine: Engine | None = None


def _init(settings: Settings, details: bool) -> None:
    """A pool worker's engine."""
    global _worker_engine
    tune_for_batch()  # a worker is a batch job: also when started from the server's forkserver
    _worker_engine = Engine(settings, details=details)


def _run(lines: list[str]) -> list[LineResult]:
    assert _worker_engine is not None
    return _worker_engine.analyze_lines(lines)


def _may_fork() -> bool:
    """Whether forking this process is safe: Linux, and no thread but this one (`check --watch` keeps a file
    watcher's OS thread, which Python's own thread count does not see; macOS forks badly with system threads)."""
    if sys.platform != "linux":
        return False
    try:
        return len(os.listdir("/proc/self/task")) == 1
    except OSError:
        return False


def _default_context() -> multiprocessing.context.BaseContext:
    """The pool's start method where this process may not fork (`_may_fork`; where it may, `fork_pool` runs): a
    forkserver (or spawn), never the platform's fork: a thread may hold a lock the child would inherit held
    (filelock refuses such a fork outright), and Python 3.14 makes forkserver the default anyway."""
    import multiprocessing

    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def default_jobs() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def character_ends(lines: Sequence[str], sizes: Iterable[int] | None = None) -> list[int]:
    """`ends[k]`: the characters of `lines[:k]` (so `ends[-1]` is all of them). `sizes`: each line's length, when
    the reader measured them already (a pass over 100k freshly read strings costs ~20 ms: they lie far apart)."""
    return list(accumulate(map(len, lines) if sizes is None else sizes, initial=0))


def chunks(lines: Sequence[str], ends: list[int] | None = None) -> Iterator[tuple[int, int, int]]:
    """(start, end, characters) of consecutive runs of at most CHUNK_LINES lines and CHUNK_BYTES characters (a
    longer line is a run of its own). `ends`: `character_ends(lines)`, when the caller has it."""
    return _runs(character_ends(lines) if ends is None else ends)


def _runs(ends: list[int]) -> Iterator[tuple[int, int, int]]:
    count, start = len(ends) - 1, 0
    while start < count:
        base = ends[start]
        # the first line that would take the run past CHUNK_BYTES ends it, unless it is the run's first
        over = bisect_right(ends, base + CHUNK_BYTES, start + 1) - 1
        end = min(start + CHUNK_LINES, max(over, start + 1), count)
        yield start, end, ends[end] - base
        start = end


def _claim_bounds(ends: list[int], processes: int) -> Bounds:
    """The chunks that forked workers claim, the last few cut in quarters: the file's end waits on the slowest
    process's last chunk, and a quarter of one is that much less wait (~60 ms of a 100k-line check's end, with
    whole chunks). Results do not depend on where chunks are cut."""
    bounds = [(start, end) for start, end, _ in _runs(ends)]
    tail = 2 * processes
    if len(bounds) <= tail:
        return bounds
    split: Bounds = []
    for start, end in bounds[-tail:]:
        step = max(1, -(-(end - start) // TAIL_PIECES))
        split += [(s, min(s + step, end)) for s in range(start, end, step)]
    return bounds[:-tail] + split


def _forked(
    engine: Engine,
    lines: list[str],
    ends: list[int],
    workers: int,
    on_chunk: Callable[[int, list[LineResult]], None] | None,
    adopt: bool,
) -> list[LineResult]:
    """`analyze_many` with forked workers that claim their chunks (`fork_pool`); results join in order."""
    bounds = _claim_bounds(ends, workers + 1)
    results: list[LineResult] = []
    arrived: dict[int, list[LineResult]] = {}
    remember = engine.remember
    following = 0  # the next chunk to join the results

    def settle(index: int, out: list[LineResult]) -> None:
        nonlocal following
        arrived[index] = out
        while following in arrived:
            chunk = arrived.pop(following)
            start, end = bounds[following]
            following += 1
            if adopt:
                for text, result in zip(lines[start:end], chunk):
                    remember(text, result)
            results.extend(chunk)
            if on_chunk is not None:
                on_chunk(start, chunk)

    analyze_forked(engine, lines, bounds, workers, settle)
    return results


def analyze_many(
    engine: Engine,
    lines: list[str],
    *,
    jobs: int | None = None,
    mp_context: multiprocessing.context.BaseContext | None = None,
    on_chunk: Callable[[int, list[LineResult]], None] | None = None,
    sizes: Iterable[int] | None = None,
    adopt: bool = True,
) -> list[LineResult]:
    """Results for `lines` in order (remembered by `engine`'s cache). `on_chunk(start, results)` hears each run of
    consecutive results as soon as it is complete, in order, from this thread: the caller can take them in while
    the workers go on (the list is its own; changing it leaves the returned results as they were).

    `sizes`: each line's length, when the reader has them (`character_ends`). `adopt`: the engine's cache takes the
    workers' results too, for a caller that analyses the same lines again (`check --watch`, the server); a one-shot
    check has no use for them, and hashing 50k strings this process never touched cost it ~1.5% of its time."""
    jobs = default_jobs() if jobs is None else max(1, min(jobs, MAX_JOBS))
    ends = character_ends(lines, sizes)
    # A local target's counter holds a loaded tokenizer that workers do not have: such files stay in-process.
    total = ends[-1]
    engine.counter.expect(total)  # before the workers start, so that forked ones inherit a loaded tiktoken
    if jobs == 1 or engine.example_counter is not None or total < MIN_BYTES_FOR_WORKERS:
        results = [r for start, end, _ in chunks(lines, ends) for r in engine.analyze_lines(lines[start:end])]
        if on_chunk is not None:
            on_chunk(0, list(results))
        return results
    if engine.settings.secrets:
        # A file this large almost surely has a line for detect-secrets' detectors, whose patterns (~15 ms to
        # compile from tuneline's cache, `detector_cache`) each process would otherwise repeat: once, before the fork.
        text_scan.detectors()
    if mp_context is None and _may_fork():
        return _forked(engine, lines, ends, jobs - 1, on_chunk, adopt)
    from concurrent.futures import Future, ProcessPoolExecutor

    if mp_context is None:
        mp_context = _default_context()
    analyze, remember = engine.analyze_lines, engine.remember
    budget = 2 * (jobs - 1) * CHUNK_BYTES  # characters in flight to the workers (at least one chunk)
    results: list[LineResult] = []
    pending: deque[tuple[int, int, int, Future[list[LineResult]] | list[LineResult] | None]] = deque()
    in_flight = 0

    def ready(item: Future[list[LineResult]] | list[LineResult] | None) -> bool:
        return isinstance(item, list) or (item is not None and item.done())

    def analyse_first() -> None:
        """The file's first chunk, put off until the workers have theirs (see below)."""
        if pending and pending[0][3] is None:
            start, end, _, _ = pending.popleft()
            pending.appendleft((start, end, 0, analyze(lines[start:end])))

    def settle_oldest() -> None:
        nonlocal in_flight
        start, end, size, item = pending.popleft()
        if isinstance(item, list):
            chunk_results = item
        else:
            chunk_results = item.result()
            if adopt:
                for text, result in zip(lines[start:end], chunk_results):
                    remember(text, result)
            in_flight -= size
        results.extend(chunk_results)
        if on_chunk is not None:
            on_chunk(start, chunk_results)

    with (
        prompt_thread_switches(),
        ProcessPoolExecutor(
            max_workers=jobs - 1,
            mp_context=mp_context,
            initializer=_init,
            initargs=(engine.settings, engine.context.details),
        ) as pool,
    ):
        for start, end, size in chunks(lines, ends):
            if start == 0:
                # The first lines are analysed here, once the workers have their first chunks: they join the
                # dataset without waiting for a worker to start, so a caller showing results as they come (the
                # server's early diagnostics) has the top of the file at once. The split of work is the same.
                pending.append((0, end, 0, None))
                continue
            # Workers are kept fed with up to two chunks each; every other chunk is analysed here meanwhile. So the
            # split follows how fast each side really is (this process also unpickles and merges; another program
            # may hold a core), not a fixed share. A line too long for a chunk stays here: a pickle would copy it
            # twice more (the message and the worker's copy) for no gain.
            queued = sum(1 for *_, item in pending if isinstance(item, Future) and not item.done())
            if size <= CHUNK_BYTES and queued < 2 * (jobs - 1) and in_flight + size <= budget:
                job = pool.submit(_run, lines[start:end])
                pending.append((start, end, size, job))
                in_flight += size
            else:
                analyse_first()
                while pending and ready(pending[0][3]):
                    settle_oldest()  # the first lines join before this chunk is analysed
                pending.append((start, end, 0, analyze(lines[start:end])))
            while pending and ready(pending[0][3]):
                settle_oldest()
        analyse_first()
        while pending:
            settle_oldest()
    return results
