"""Half of a large job in a forked child process, for `tuneline check` and `dedupe` on big files.

Most of the near-duplicate work holds the GIL in short numpy or Python steps, so threads do not spread it over two
cores; a forked child does, and it inherits the parent's data (texts, model, matrix) without copying or pickling
it: only the job's small arguments go to it and its result comes back.

Only the command line asks for this (`NearDuplicateDetector.processes`): a language server must not fork (its
reader thread holds stdin), and on platforms without `fork` everything runs in this process.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from typing import Any

_JOB: Callable[..., Any] | None = None  # what the child runs: set before the fork, so the child has it


def _run(args: tuple[Any, ...]) -> Any:
    assert _JOB is not None
    return _JOB(*args)


def can_fork() -> bool:
    return "fork" in multiprocessing.get_all_start_methods() and (os.cpu_count() or 1) > 1


def in_two(job: Callable[..., Any], here: tuple[Any, ...], there: tuple[Any, ...]) -> tuple[Any, Any]:
    """`job(*here)` in this process while `job(*there)` runs in a forked child; both results (or both here, when
    this platform cannot fork). An exception in either is raised here. `there` is pickled to the child: pass
    bounds and let `job` (a closure, inherited by the fork) hold the data."""
    global _JOB
    if not can_fork():
        return job(*here), job(*there)
    _JOB = job
    try:
        with multiprocessing.get_context("fork").Pool(1) as pool:
            remote = pool.apply_async(_run, (there,))
            mine = job(*here)
            theirs = remote.get()
    finally:
        _JOB = None
    return mine, theirs
