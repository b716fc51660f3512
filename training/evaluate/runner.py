"""One evaluation, from a prepared eval folder to its summary: answers (hosted or local), then the judge, then
`summary.json`. What was answered before an interruption is not asked again.

`python -m tuneline.training.evaluate.runner EVAL_FOLDER` runs it in a process of its own: the editor starts it
that way (the language server never loads an SDK), in safe path mode, from a neutral folder, with the folder's
nonce in its environment. It reports through `status.json` (`running`, `done`, `failed` with one sentence).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tuneline.fileio import atomic_write_text

from ..runs import now
from . import report, store
from .plan import EvalError
from .store import answered, progress_count

STATUS_FILE = "status.json"
Progress = Callable[[int, int], None]


class Interrupted(Exception):
    """The user stopped the evaluation; what was answered is kept."""


def _total(spec: dict[str, Any], items: int) -> int:
    return items * (2 + (2 if spec.get("judge") else 0))


def set_status(folder: Path, status: str, error: str | None = None) -> None:
    data = {"status": status, "error": error, "pid": os.getpid(), "time": now()}
    atomic_write_text(folder / STATUS_FILE, json.dumps(data) + "\n")


def read_status(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads((folder / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def run(
    folder: Path,
    *,
    progress: Progress | None = None,
    stop: threading.Event | None = None,
    note: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fill `folder` and return the JSON contract. EvalError (one sentence) when it cannot finish; Interrupted when
    `stop` is set or Ctrl-C arrives. Either way the answers so far stay, and running again resumes."""
    from . import hosted

    spec = store.read_spec(folder)
    items = store.read_items(folder)
    stop = stop or threading.Event()
    note = note or (lambda _message: None)
    total = _total(spec, len(items))
    count = [progress_count(folder)]

    def tick() -> None:
        count[0] += 1
        if progress is not None:
            progress(min(count[0], total), total)

    if progress is not None:
        progress(count[0], total)
    try:
        done = answered(store.read_results(folder))
        if spec["backend"] == "local":
            from .local import answer_all as local_answers

            local_answers(folder, progress, total, stop)
        else:
            results = store.Results(folder)
            try:
                hosted.answer_all(spec, items, done, results.add, tick, stop, note)
            finally:
                results.close()
        if spec.get("judge"):
            answers, verdicts = report.collect(store.read_results(folder))
            judged = {key for key, verdict in verdicts.items() if verdict is not None}
            count[0] = progress_count(folder)
            results = store.Results(folder)
            try:
                hosted.judge_all(spec, items, answers, judged, results.add, tick, stop, note)
            finally:
                results.close()
    except hosted.Fatal as exc:
        _finish(folder, spec, items)
        raise EvalError(f"{exc}; the answers so far are kept in {folder}") from None
    except (hosted.Stopped, KeyboardInterrupt):
        _finish(folder, spec, items)
        raise Interrupted(f"stopped; the answers so far are kept in {folder}: run the same command to resume") from None
    return _finish(folder, spec, items)


def _finish(folder: Path, spec: dict[str, Any], items: list) -> dict[str, Any]:
    contract = report.build(spec, items, store.read_results(folder), folder)
    store.write_summary(folder, {**report.summary_of(contract), "finished_at": now()})
    return contract


def main(argv: list[str] | None = None) -> int:
    """The editor's evaluation process: only for a folder this user created, with its nonce in the environment."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m tuneline.training.evaluate.runner EVAL_FOLDER", file=sys.stderr)
        return 2
    folder = Path(args[0])
    if not store.recorded(folder, os.environ.get(store.NONCE_ENV)):
        print(f"{folder}: not an evaluation this user started through tuneline; nothing done", file=sys.stderr)
        return 2
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())  # the editor's cancel: finish the answers in flight
    set_status(folder, "running")
    try:
        contract = run(folder, stop=stop)
    except (EvalError, Interrupted, store.StoreError) as exc:
        set_status(folder, "failed", str(exc))
        print(str(exc), file=sys.stderr)
        return 1
    set_status(folder, "done" if contract["complete"] else "incomplete")
    return 0


if __name__ == "__main__":
    sys.exit(main())
