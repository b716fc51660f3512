"""Following a run in the terminal: events as they arrive, and a live progress line (rich on a terminal).

Everything comes from the run folder, so `tuneline runs watch` works from any terminal, for a run started by the
editor or by another shell, and after a restart. Followers wake on the folder's changes (`tuneline.fswatch`: file
notifications, a slow poll only where the platform cannot notify) and, when nothing changes, every few seconds to
ask whether the worker is still there. Watching stops when the run finishes or stalls (its worker is gone:
`liveness.settle` records why), never waiting on a run nobody follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TextIO

from tuneline.fswatch import Waiter, WatchThread

from .liveness import settle
from .provenance import started_here
from .runs import RunRecord, RunRegistry


def printable(value: object) -> str:
    """Text from a run folder, safe for a terminal: control characters (escape sequences a planted run.json could
    carry, newlines) are shown escaped instead of acting."""
    text = str(value)
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)


def describe(record: RunRecord) -> str:
    """One line: status, progress, latest numbers."""
    p = record.progress or {}
    parts = [record.status]
    if p.get("step"):
        total = p.get("total_steps")
        parts.append(f"step {p['step']}/{total}" if total else f"step {p['step']}")
    if p.get("epoch"):
        parts.append(f"epoch {p['epoch']}")
    if record.result_model:
        parts.append(f"model {record.result_model}")
    if record.error:
        parts.append(record.error)
    return " · ".join(printable(x) for x in parts)


def _event_line(event: dict[str, Any]) -> str:
    stamp = str(event.get("time", ""))[11:19]
    kind = event.get("type", "")
    mark = {"error": "✗", "warning": "!", "status": "→", "upload": "↑", "cost": "$"}.get(kind, "·")
    return printable(f"  {stamp} {mark} {event.get('message', '')}")


def _metric_line(m: dict[str, Any]) -> str:
    bits = [f"step {m.get('step')}"]
    for key, label in (("loss", "loss"), ("eval_loss", "eval loss"), ("learning_rate", "lr")):
        if m.get(key) is not None:
            bits.append(f"{label} {m[key]:.4g}" if isinstance(m[key], float) else f"{label} {m[key]}")
    return printable("  " + " · ".join(bits))


LIVENESS_SECONDS = 2.0  # with nothing written, how often a follower checks that the run's worker is still there
RUN_FILES = ("run.json", "events.jsonl", "metrics.jsonl")


def run_files(folder: Path) -> list[Path]:
    """What a follower waits on: the record and the two append-only streams (their folder, in notify mode)."""
    return [folder / name for name in RUN_FILES]


def watch(
    registry: RunRegistry,
    run_id: str,
    *,
    out: TextIO | None = None,
    liveness: float = LIVENESS_SECONDS,
    rich: bool | None = None,
    timeout: float | None = None,
) -> RunRecord:
    """Print the run's events and metrics until it finishes (or `timeout` passes); returns the last record."""
    out = out or sys.stdout
    if not started_here(registry, run_id):  # nobody here will ever move it: show it once, read-only
        record = registry.get(run_id)
        out.write(f"[{printable(run_id)}] {describe(record)} (not started here: shown read-only)\n")
        return record
    use_rich = out.isatty() if rich is None else rich
    if use_rich:
        try:
            return _watch_rich(registry, run_id, liveness, timeout)
        except ImportError:
            pass
    return _watch_plain(registry, run_id, out, liveness, timeout)


def _new_items(registry: RunRegistry, run_id: str, seen: dict[str, int]) -> tuple[list[dict], list[dict]]:
    events = list(registry.read(run_id, "events"))
    metrics = list(registry.read(run_id, "metrics"))
    new = events[seen["events"] :], metrics[seen["metrics"] :]
    seen["events"], seen["metrics"] = len(events), len(metrics)
    return new


def follow(
    registry: RunRegistry, run_id: str, liveness: float = LIVENESS_SECONDS, timeout: float | None = None
) -> Iterator[tuple[RunRecord, bool, list[dict], list[dict]]]:
    """(record, stop, new events, new metrics): now, then each time the run folder changes, and every `liveness`
    seconds when nothing does (a worker that died without a word is noticed and the run recorded as stalled).
    Ends after the item with stop=True, or when `timeout` passes.

    Waiting is the system's file notifications on the run folder (one level deep, links not followed; a slow poll
    where the platform cannot notify): no sleep loop, no CPU while the run is quiet."""
    seen = {"events": 0, "metrics": 0}
    deadline = None if timeout is None else time.monotonic() + timeout
    with Waiter(run_files(registry.folder(run_id)), links=False) as waiter:
        while True:
            record, stop = settle(registry, run_id)
            events, metrics = _new_items(registry, run_id, seen)
            expired = deadline is not None and time.monotonic() >= deadline
            yield record, stop or expired, events, metrics
            if stop or expired:
                return
            wait = liveness if deadline is None else max(0.0, min(liveness, deadline - time.monotonic()))
            waiter.wait(wait)


def _watch_plain(registry: RunRegistry, run_id: str, out: TextIO, liveness: float, timeout: float | None) -> RunRecord:
    last = ""
    record = None
    for record, _, events, metrics in follow(registry, run_id, liveness, timeout):
        for e in events:
            out.write(_event_line(e) + "\n")
        for m in metrics:
            out.write(_metric_line(m) + "\n")
        line = describe(record)
        if line != last:
            out.write(f"[{run_id}] {line}\n")
            last = line
        out.flush()
    assert record is not None
    return record


def _watch_rich(registry: RunRegistry, run_id: str, liveness: float, timeout: float | None) -> RunRecord:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    progress = Progress(
        TextColumn("[bold]{task.fields[status]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    record = None
    with progress:
        task = progress.add_task(run_id, total=None, status="starting", loss="")
        for record, _, events, metrics in follow(registry, run_id, liveness, timeout):
            for e in events:
                progress.console.print(_event_line(e), markup=False, highlight=False)
            loss = ""
            if metrics and metrics[-1].get("loss") is not None:
                loss = f"loss {metrics[-1]['loss']:.4g}"
            p = record.progress or {}
            progress.update(
                task,
                total=p.get("total_steps") or None,
                completed=p.get("step") or 0,
                status=record.status,
                **({"loss": loss} if loss else {}),
            )
    assert record is not None
    console.print(f"[{run_id}] {describe(record)}", markup=False, highlight=False)
    return record


# --- for an event loop (the language server's run progress) -------------------------------------------------------
class _RunFolders:
    """The run folders that asyncio followers wait on, all watched by one thread: the server follows any number of
    runs with one thread (plus the notifier's), and with none once no run is followed."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wakers: dict[Path, list[Callable[[], None]]] = {}
        self._thread = WatchThread(self._changed, name="tuneline-run-folders", links=False)

    def add(self, folder: Path, wake: Callable[[], None]) -> None:
        with self._lock:
            self._wakers.setdefault(folder, []).append(wake)
            self._thread.watch(p for f in self._wakers for p in run_files(f))

    def remove(self, folder: Path, wake: Callable[[], None]) -> None:
        with self._lock:
            wakers = self._wakers.get(folder, [])
            if wake in wakers:
                wakers.remove(wake)
            if not wakers:
                self._wakers.pop(folder, None)
            self._thread.watch(p for f in self._wakers for p in run_files(f))

    def _changed(self, paths: set[Path]) -> None:
        with self._lock:
            wakers = [w for p in paths for w in (*self._wakers.get(p.parent, ()), *self._wakers.get(p, ()))]
        for wake in wakers:
            wake()


_RUN_FOLDERS: _RunFolders | None = None
_RUN_FOLDERS_LOCK = threading.Lock()


@contextlib.asynccontextmanager
async def folder_changes(folder: Path) -> AsyncIterator[Callable[[float], Awaitable[None]]]:
    """`wait(timeout)`, which returns as soon as the run folder changes, or after `timeout` seconds (to ask
    `settle` whether the worker is still there)."""
    global _RUN_FOLDERS
    with _RUN_FOLDERS_LOCK:
        if _RUN_FOLDERS is None:
            _RUN_FOLDERS = _RunFolders()
        folders = _RUN_FOLDERS
    loop = asyncio.get_running_loop()
    changed = asyncio.Event()

    def wake() -> None:  # on the watching thread
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
            loop.call_soon_threadsafe(changed.set)

    async def wait(timeout: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(changed.wait(), timeout)
        changed.clear()  # before the caller reads: a change after this wakes the next wait

    key = Path(os.path.abspath(folder))
    folders.add(key, wake)
    try:
        yield wait
    finally:
        folders.remove(key, wake)
