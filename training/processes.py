"""Is that process still ours and alive? Shared by the run launcher and the local backend."""

from __future__ import annotations

import os
from pathlib import Path


def pid_alive(pid: int | None, *, cmdline_marks: tuple[bytes, ...] = ()) -> bool:
    """True while `pid` runs: not gone, not a zombie, and (when marks are given) still the program we started,
    not a recycled pid. Without /proc, `kill(pid, 0)` is trusted."""
    if not pid or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] == "Z":
            return False
        if not cmdline_marks:
            return True
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")
        return any(mark in cmdline for mark in cmdline_marks)
    except (OSError, IndexError):
        return True
