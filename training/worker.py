"""The training child: `python -m tuneline.training.worker RUN_FOLDER [--resume|--cancel]`.

Started by `launch.start_run` in its own session, so it outlives the editor or terminal that started it. It reads
`run.json` and `request.json`, calls the backend, and records every update in the registry. One worker per run:
it holds an exclusive lock on `worker.lock`, and a second one started by a recovery race exits at once.

Cancel: `launch.cancel_run` writes `cancel.request` and sends SIGTERM; either one sets the backend's stop event, and
the worker calls `backend.cancel`. Output (and the SDKs' logging) goes to `worker.log`, passed through `redact`.

It acts only on a run this user started here (`provenance`): the launcher hands it the run's nonce in its
environment, and before anything is uploaded or trained on it checks that every file is the one the user approved.
When it exits with the run unfinished (a retryable error, a failed cancel), it records the run as `stalled`.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import traceback
from pathlib import Path
from typing import Any

from . import provenance
from .backends.base import Backend, BackendError, TrainRequest, Update
from .liveness import mark_stalled, unstall
from .redact import redact
from .runs import (
    CANCEL_FILE,
    LOCK_FILE,
    REQUEST_FILE,
    STARTING_FILE,
    STATUSES,
    TERMINAL,
    RunRecord,
    RunRegistry,
    now,
)

__all__ = ["CANCEL_FILE", "LOCK_FILE", "REQUEST_FILE", "STARTING_FILE", "Worker", "load_request", "main"]

log = logging.getLogger("tuneline.training.worker")


class _Redacting(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redact(super().format(record))


class _RedactingStream:
    """stdout/stderr of the worker (they go to worker.log): whatever an SDK prints passes through `redact`."""

    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        self._stream.write(redact(text))
        return len(text)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def load_request(folder: Path) -> TrainRequest:
    import json

    return TrainRequest.from_json(json.loads((folder / REQUEST_FILE).read_text(encoding="utf-8")))


def _lock(folder: Path) -> Any:
    """An exclusive, non-blocking lock on the run: None when another worker holds it."""
    fh = (folder / LOCK_FILE).open("a+")
    try:
        import fcntl

        fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except ImportError:  # pragma: no cover - no flock on this platform: trust the caller
        return fh
    except OSError:
        fh.close()
        return None
    return fh


class Worker:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.registry = RunRegistry(folder.parent)
        self.run_id = folder.name
        self.stop = threading.Event()
        self.record: RunRecord = self.registry.get(self.run_id)

    # --- recording -------------------------------------------------------------------------------------------
    def save(self) -> None:
        self.registry.save(self.record)

    def event(self, kind: str, message: str, **data: Any) -> None:
        self.registry.append(self.run_id, "events", {"type": kind, "message": redact(message), **data})

    def apply(self, update: Update) -> None:
        r = self.record
        for item in update.events:
            self.registry.append(self.run_id, "events", item)
        for item in update.metrics:
            self.registry.append(self.run_id, "metrics", item)
        if update.progress:
            r.progress = {**(r.progress or {}), **update.progress}
        if update.result_model:
            r.result_model = update.result_model
        if update.error:
            r.error = redact(update.error)
        if update.status and update.status in STATUSES and update.status != r.status:
            if r.status in TERMINAL and update.status not in TERMINAL:
                pass  # never move a finished run back
            else:
                self.event("status", f"{r.status} -> {update.status}", status=update.status)
                r.status = update.status
                if update.status in TERMINAL:
                    r.extra["finished_at"] = now()
        self.save()

    # --- the run ---------------------------------------------------------------------------------------------
    def cancel_requested(self) -> bool:
        return self.stop.is_set() or (self.folder / CANCEL_FILE).exists()

    def watch_cancel_file(self) -> None:
        while not self.stop.wait(0.5):
            if (self.folder / CANCEL_FILE).exists():
                self.stop.set()

    def run(self, mode: str) -> int:
        from .backends import get_backend

        r = self.record
        verdict = provenance.check(self.registry, self.run_id, r.backend)
        if verdict.origin is None:  # never written to: not ours
            log.error("refusing %s: %s", self.run_id, verdict.problem)
            return 2
        if mode != "cancel":
            unstall(self.registry, r)
            if r.backend == "local" or not (r.remote or {}).get("job_id"):
                # Something may still be uploaded or trained on: it must be what the user approved. A hosted job
                # that exists is only polled, so editing the dataset meanwhile does not stop it being followed.
                problem = provenance.verify_data(self.registry, verdict.origin)
                if problem:
                    return self.fail(problem)
        r.pid = os.getpid()
        r.error = None if mode != "cancel" else r.error
        self.save()
        try:
            backend = get_backend(r.backend)
        except (KeyError, ImportError) as exc:
            return self.fail(f"the {r.backend} backend cannot be loaded here ({exc}); install its extra")
        backend.stop_event = self.stop
        threading.Thread(target=self.watch_cancel_file, daemon=True).start()
        try:
            if mode == "cancel" or self.cancel_requested():
                return self.do_cancel(backend)
            if mode == "resume":
                self.event("status", "resuming")
                backend.resume(r, self.registry)
            if not self.started(r):
                self.event("status", f"starting on {r.backend}")
                backend.start(load_request(self.folder), r, self.registry)
                self.save()
            elif mode != "resume":
                self.event("status", "following the run again (recovered)")
            for update in backend.poll(r, self.registry):
                self.apply(update)
                if self.record.finished or self.cancel_requested():
                    break
            if self.cancel_requested() and not self.record.finished:
                return self.do_cancel(backend)
            return 0 if self.record.status != "failed" else 1
        except BackendError as exc:
            if self.cancel_requested():
                return self.do_cancel(backend)
            if exc.retryable:
                self.record.error = redact(str(exc))
                self.event("error", str(exc), retryable=True)
                self.save()
                return 3
            return self.fail(str(exc))
        except Exception as exc:  # a bug: keep the traceback in worker.log, give the user one sentence
            log.error("worker crashed:\n%s", traceback.format_exc())
            return self.fail(
                f"the training process stopped on an unexpected {type(exc).__name__}; details are in "
                f"{self.folder / 'worker.log'}"
            )

    @staticmethod
    def started(r: RunRecord) -> bool:
        """Past the point where `start` must run: a job exists remotely, or a local run has begun."""
        remote = r.remote or {}
        if remote.get("job_id"):
            return True
        return r.status not in ("created", "validating")

    def fail(self, message: str) -> int:
        self.record.status = "failed"
        self.record.error = redact(message)
        self.record.extra["finished_at"] = now()
        self.event("error", message)
        self.save()
        return 1

    def do_cancel(self, backend: Backend) -> int:
        r = self.record
        if r.finished:
            return 0
        self.event("status", "cancelling")
        backend.stop_event = threading.Event()  # let the backend's own calls run (and retry) during the cancel
        try:
            backend.cancel(r, self.registry)
        except BackendError as exc:
            r.error = redact(f"cancelling failed: {exc}")
            self.event("error", r.error)
            self.save()
            return 1
        r.status = "cancelled"
        r.error = None
        r.extra["finished_at"] = now()
        self.event("status", "cancelled", status="cancelled")
        self.save()
        return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuneline.training.worker")
    parser.add_argument("folder")
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--resume", action="store_true")
    group.add_argument("--cancel", action="store_true")
    args = parser.parse_args(argv)
    folder = Path(args.folder).resolve()
    sys.stdout = _RedactingStream(sys.stdout)  # type: ignore[assignment]
    sys.stderr = _RedactingStream(sys.stderr)  # type: ignore[assignment]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Redacting("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=logging.INFO, handlers=[handler], force=True)
    for noisy in ("httpx", "httpx2", "httpcore", "openai", "together"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
    verdict = provenance.check(RunRegistry(folder.parent), folder.name)
    nonce = os.environ.pop(provenance.NONCE_ENV, None)  # the trainer and other children do not need it
    if verdict.origin is None or not verdict.origin.nonce_matches(nonce):
        log.error("refusing %s: %s", folder.name, verdict.problem or "it was not started by tuneline's launcher")
        return 2
    lock = _lock(folder)
    with contextlib.suppress(FileNotFoundError):
        (folder / STARTING_FILE).unlink()
    if lock is None:
        log.info("another worker follows %s; exiting", folder.name)
        return 0
    try:
        worker = Worker(folder)
    except KeyError:
        log.error("no run.json in %s", folder)
        return 2
    signal.signal(signal.SIGTERM, lambda *_: worker.stop.set())
    with contextlib.suppress(ValueError):
        signal.signal(signal.SIGINT, lambda *_: worker.stop.set())
    mode = "cancel" if args.cancel else "resume" if args.resume else "run"
    try:
        return worker.run(mode)
    finally:
        try:
            record = worker.registry.get(worker.run_id)
            if not record.stopped and provenance.started_here(worker.registry, worker.run_id):
                # Nobody follows the run after this: say so, or `tuneline train` and the editor would wait forever.
                mark_stalled(worker.registry, record, hint="cancel" if mode == "cancel" else "resume")
            elif record.pid == os.getpid():
                worker.record.pid = None
                worker.save()
        except KeyError:
            pass
        lock.close()


if __name__ == "__main__":
    sys.exit(main())
