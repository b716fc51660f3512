"""Fewer cyclic garbage-collector passes while an analysis creates millions of long-lived objects.

Why: analysing a file allocates millions of small tuples and dicts (line results, keys, findings) that live until
the report is written or the file is closed, and hold no reference cycles. With the default thresholds the
collector rescans them every 700 allocations: 10-15% of a big file's CPU (20k examples: 2.8 s -> 2.4 s user; the
server's build of a 100k-line file: 7.2 s -> 6.3 s). A young generation of 50,000 objects still collects the rare
cycle.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator

BATCH_THRESHOLDS = (50_000, 50, 100)


def tune_for_batch() -> None:
    """For a one-shot command: what is imported so far leaves every scan, and passes are rarer from now on.
    Forked workers inherit both."""
    gc.freeze()
    gc.set_threshold(*BATCH_THRESHOLDS)


@contextlib.contextmanager
def relaxed() -> Iterator[None]:
    """Rarer passes for the duration of one large analysis in a long-lived process (the language server)."""
    saved = gc.get_threshold()
    gc.set_threshold(*BATCH_THRESHOLDS)
    try:
        yield
    finally:
        gc.set_threshold(*saved)
