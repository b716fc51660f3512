"""Following a run in the terminal: events as they arrive, and a live progress line (rich on a terminal).

Everything comes from the run folder, so `tuneline runs watch` works from any terminal, for a run started by the
editor or by another shell, and after a restart. Watching stops when the run finishes or stalls (its worker is
gone: `liveness.settle` records why), never waiting on a run nobody follows.
"""

from __future__ import annotations

import sys
import time
from typing import Any, TextIO

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


def watch(
    registry: RunRegistry,
    run_id: str,
    *,
    out: TextIO | None = None,
    interval: float = 0.5,
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
            return _watch_rich(registry, run_id, interval, timeout)
        except ImportError:
            pass
    return _watch_plain(registry, run_id, out, interval, timeout)


def _new_items(registry: RunRegistry, run_id: str, seen: dict[str, int]) -> tuple[list[dict], list[dict]]:
    events = list(registry.read(run_id, "events"))
    metrics = list(registry.read(run_id, "metrics"))
    new = events[seen["events"] :], metrics[seen["metrics"] :]
    seen["events"], seen["metrics"] = len(events), len(metrics)
    return new


def _watch_plain(registry: RunRegistry, run_id: str, out: TextIO, interval: float, timeout: float | None) -> RunRecord:
    seen = {"events": 0, "metrics": 0}
    last = ""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        record, stop = settle(registry, run_id)
        events, metrics = _new_items(registry, run_id, seen)
        for e in events:
            out.write(_event_line(e) + "\n")
        for m in metrics:
            out.write(_metric_line(m) + "\n")
        line = describe(record)
        if line != last:
            out.write(f"[{run_id}] {line}\n")
            last = line
        out.flush()
        if stop or (deadline is not None and time.monotonic() > deadline):
            return record
        time.sleep(interval)


def _watch_rich(registry: RunRegistry, run_id: str, interval: float, timeout: float | None) -> RunRecord:
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console()
    seen = {"events": 0, "metrics": 0}
    deadline = None if timeout is None else time.monotonic() + timeout
    progress = Progress(
        TextColumn("[bold]{task.fields[status]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total} steps"),
        TextColumn("{task.fields[loss]}"),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )
    with progress:
        task = progress.add_task(run_id, total=None, status="starting", loss="")
        while True:
            record, stop = settle(registry, run_id)
            events, metrics = _new_items(registry, run_id, seen)
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
            if stop or (deadline is not None and time.monotonic() > deadline):
                break
            time.sleep(interval)
    console.print(f"[{run_id}] {describe(record)}", markup=False, highlight=False)
    return record
