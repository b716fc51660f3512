"""The parent side of a local evaluation: start the child that runs the models, follow its answers, stop it.

The child (`local_child`) is started like the trainer: safe path mode, a neutral working folder, its own session,
the eval folder's nonce in its environment only. Its output goes to `local.log` in the eval folder; progress is
read from `results.jsonl`, which the child appends to.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from pathlib import Path

from ..processes import child_env, neutral_cwd, python_command, start_detached
from ..provenance import ProvenanceError
from . import store
from .plan import EvalError
from .store import progress_count

CHILD_MODULE = "tuneline.training.evaluate.local_child"
LOG_FILE = "local.log"


def _last_sentence(log: Path) -> str | None:
    from .local_child import MARK

    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    found = [line[len(MARK) :] for line in lines if line.startswith(MARK)]
    return found[-1] if found else None


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def child_start(folder: Path) -> tuple[str, Path]:
    """What an eval child needs to start: the eval's nonce (proof that this user created the folder; the child gets
    it only through its environment) and a working folder no repository controls. EvalError otherwise."""
    nonce = store.nonce_of(folder)
    if nonce is None:
        raise EvalError(f"{folder} is not an evaluation this user started through tuneline")
    try:
        return nonce, neutral_cwd()
    except ProvenanceError as exc:
        raise EvalError(str(exc)) from None


def answer_all(
    folder: Path,
    progress: Callable[[int, int], None] | None,
    total: int,
    stop: threading.Event,
) -> None:
    """Run the child until every prompt has both answers; EvalError with its sentence when it fails."""
    from .hosted import Stopped

    nonce, cwd = child_start(folder)
    env = child_env(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false", **{store.NONCE_ENV: nonce})
    log = folder / LOG_FILE
    try:
        proc = start_detached(python_command(CHILD_MODULE, str(folder.resolve())), log, cwd, env)
    except OSError as exc:
        raise EvalError(f"cannot start the local evaluation process ({exc.strerror or exc})") from None
    last = -1
    try:
        while proc.poll() is None:
            if stop.is_set():
                _stop(proc)
                raise Stopped()
            if progress is not None:
                count = progress_count(folder)
                if count != last:
                    last = count
                    progress(count, total)
            time.sleep(0.3)
    except BaseException:
        if proc.poll() is None:
            _stop(proc)
        raise
    if proc.returncode != 0:
        sentence = _last_sentence(log) or f"the local evaluation process ended with exit code {proc.returncode}"
        raise EvalError(f"{sentence} (log: {log})")
    if progress is not None:
        progress(progress_count(folder), total)
