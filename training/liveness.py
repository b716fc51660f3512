"""Is anybody following a run, and what to record when nobody is and the run did not finish.

A run is "followed" while a worker holds the lock on its folder (or one was just started and has not taken it yet).
A run that is neither finished nor followed lost its worker: a retryable error ended it (network down), or it was
killed (editor closed, reboot). Left alone it would look `validating` or `running` forever and every follower
(`tuneline train`, `tuneline runs watch`, the editor's progress) would wait forever. `settle` records it as
`stalled` with the reason and the command that goes on, so followers stop and the user sees what to do.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from .processes import pid_alive
from .provenance import started_here
from .redact import redact
from .runs import LOCK_FILE, STALLED, STARTING_FILE, RunRecord, RunRegistry, read_small

STARTING_GRACE = 30.0  # seconds a just-started worker has to take the lock


def is_followed(registry: RunRegistry, run_id: str) -> bool:
    """True while a worker holds the run's lock, or one was just started and has not taken it yet."""
    folder = registry.folder(run_id)
    if starting(folder):
        return True
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        record = registry.get(run_id)
        return bool(record.pid) and pid_alive(record.pid)
    # Read-only, never created, never through a symlink: the folder may come from a repository.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(folder / LOCK_FILE, flags)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)


def starting(folder: Path) -> bool:
    """A worker was started moments ago (the launcher writes the marker just before and after starting it)."""
    try:
        info = json.loads(read_small(folder / STARTING_FILE, 4096))
        age = time.time() - float(info.get("at", 0))
        pid = info.get("pid")
        if pid is None:  # the launcher is starting it right now
            return age < 5
        return age < STARTING_GRACE and pid_alive(int(pid))
    except (OSError, ValueError, TypeError, AttributeError):
        return False


def mark_stalled(
    registry: RunRegistry, record: RunRecord, reason: str | None = None, hint: str | None = "resume"
) -> None:
    """Record that nobody follows this unfinished run any more: status `stalled`, `error` = reason plus the command
    that goes on (`tuneline runs resume|cancel ID`; none when `hint` is None). The previous status is kept in
    `stalled_from` for the worker that takes the run again."""
    reason = reason or record.error or "the training process ended before the run finished (see worker.log)"
    command = f"tuneline runs {hint} {record.id}" if hint else None
    error = reason if command is None or command in reason else f"{reason.rstrip('.')}; then run `{command}`"
    if record.status != STALLED:
        record.extra["stalled_from"] = record.status
    record.status = STALLED
    record.error = redact(error)
    record.pid = None
    registry.save(record)
    registry.append(record.id, "events", {"type": "status", "message": f"stalled: {record.error}", "status": STALLED})


def settle(registry: RunRegistry, run_id: str) -> tuple[RunRecord, bool]:
    """The run's record, and whether a follower should stop now. An unfinished run of ours that nobody follows is
    first recorded as stalled; one that is not (or no longer) ours is never written to, and nobody here will move
    it, so followers stop at it too."""
    record = registry.get(run_id)
    if record.stopped:
        return record, True
    if is_followed(registry, run_id):
        return record, False
    record = registry.get(run_id)  # the worker may have written its last status just before letting go of the lock
    if record.stopped:
        return record, True
    if is_followed(registry, run_id):
        return record, False
    if not started_here(registry, run_id):
        return record, True
    mark_stalled(registry, record)
    return record, True


def unstall(registry: RunRegistry, record: RunRecord) -> RunRecord:
    """Before a worker takes a stalled run again: back to the status it had, so followers do not stop at once."""
    if record.status == STALLED:
        before = record.extra.pop("stalled_from", None)
        record.status = str(before or ("queued" if (record.remote or {}).get("job_id") else "created"))
        record.error = None
        registry.save(record)
    return record
