"""A short GIL switch interval while this process waits on worker processes.

Why: a process that analyses its own share of lines while worker processes do the rest also has pool threads that
send them work and read their results, and each needs the GIL for a moment per pipe-full. With Python's default
5 ms switch interval the analysing thread kept it that long each time: a 1,000-line chunk's result took ~15 ms to
hand over, the worker sat blocked on the pipe meanwhile, and was idle ~20% of the time (`tuneline check` of 100k
lines: 4.7 → 4.1 s with 0.5 ms). The interval is process-wide, so concurrent users share one setting: the first
sets it, the last restores what was there before.
"""

from __future__ import annotations

import contextlib
import sys
import threading
from collections.abc import Iterator

INTERVAL = 0.0005
_lock = threading.Lock()
_users = 0
_saved = 0.0


@contextlib.contextmanager
def prompt_thread_switches() -> Iterator[None]:
    """A switch interval of at most `INTERVAL` for as long as any caller is inside."""
    global _users, _saved
    with _lock:
        if _users == 0:
            _saved = sys.getswitchinterval()
            sys.setswitchinterval(min(_saved, INTERVAL))
        _users += 1
    try:
        yield
    finally:
        with _lock:
            _users -= 1
            if _users == 0:
                sys.setswitchinterval(_saved)
