"""Starting, cancelling, resuming and recovering runs: what the CLI and the language server share.

Training never runs in the caller's process: `start_run` writes the run folder and starts the worker
(`python -m tuneline.training.worker`) in its own session, with the caller's environment (where API keys live)
plus any extra variables the caller hands over. Nothing here imports an SDK or torch.

A run is "followed" while a worker holds the lock on its folder. `recover` starts a worker for every unfinished
hosted run that nobody follows, which is how runs survive editor restarts and reboots.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from .preflight import Preflight, sha256_file, verdict
from .processes import pid_alive
from .runs import DEFAULT_ROOT, RunRecord, RunRegistry, atomic_write_text, new_run_id, now
from .split import write_split
from .worker import CANCEL_FILE, LOCK_FILE, REQUEST_FILE, STARTING_FILE

KEY_ENV = {"openai": "OPENAI_API_KEY", "together": "TOGETHER_API_KEY"}
_CHILDREN: list[subprocess.Popen] = []


class LaunchError(Exception):
    """The run cannot be started, cancelled or resumed: one sentence for the user."""


def project_root(path: Path) -> Path:
    """The folder that holds `.tuneline/` for a dataset: the nearest one up with .tuneline, .git or a config."""
    start = Path(path).resolve()
    folder = start if start.is_dir() else start.parent
    for candidate in [folder, *folder.parents]:
        if any((candidate / m).exists() for m in (".tuneline", ".git", "tuneline.toml", "pyproject.toml")):
            return candidate
    return folder


def registry_for(project: Path, runs_dir: str | None = None) -> RunRegistry:
    return RunRegistry.for_project(project, runs_dir or os.environ.get("TUNELINE_RUNS_DIR") or str(DEFAULT_ROOT))


def key_problem(backend: str, env: dict[str, str] | None = None) -> str | None:
    """A sentence when the backend's API key is missing from the environment the worker will get."""
    name = KEY_ENV.get(backend)
    if name is None:
        return None
    merged = {**os.environ, **(env or {})}
    if merged.get(name):
        return None
    where = {
        "openai": "create one at https://platform.openai.com/api-keys",
        "together": "find it at https://api.together.ai/settings/api-keys",
    }[backend]
    return f"{name} is not set: {where} and put it in that environment variable (the editor passes it on)"


def start_run(
    registry: RunRegistry,
    pf: Preflight,
    *,
    env: dict[str, str] | None = None,
    source: str = "cli",
) -> RunRecord:
    """Record a checked run and start its worker. Refuses a pre-flight that did not pass."""
    if not pf.ok or pf.plan is None:
        raise LaunchError(verdict(pf))
    problem = key_problem(pf.backend, env)
    if problem:
        raise LaunchError(problem)
    request, plan, analysis = pf.request, pf.plan, pf.analysis
    hyper = {k: v for k, v in request.hyperparameters.items() if v is not None}
    hyper["n_epochs"] = plan.epochs
    if request.suffix:
        hyper["suffix"] = request.suffix
    if request.seed is not None:
        hyper["seed"] = request.seed
    record = RunRecord(
        id=new_run_id(pf.backend),
        backend=pf.backend,
        model=plan.model,
        dataset={
            "path": str(Path(request.dataset).resolve()),
            "sha256": analysis.sha256,
            "examples": plan.examples,
            "tokens": plan.tokens,
        },
        hyperparameters=hyper,
        cost_estimate_usd=plan.cost_usd,
        progress={"step": 0, "total_steps": None, "epoch": 0},
    )
    record.extra = {"method": plan.method, "source": source, "warnings": list(pf.warnings)}
    if pf.validation is not None:
        record.validation = {
            "path": str(Path(pf.validation.path).resolve()),
            "sha256": pf.validation.sha256,
            "examples": pf.validation.summary.examples,
            "tokens": pf.validation.summary.tokens_total,
        }
    registry.create(record)
    folder = registry.folder(record.id)
    if pf.split is not None:
        stem = Path(request.dataset).stem
        train, validation = write_split(analysis.report.dataset, pf.split, folder, stem)
        ds = analysis.report.dataset
        record.dataset.update(upload_path=str(train), sha256=sha256_file(train), split=pf.split.to_json())
        record.validation = {
            "path": str(validation),
            "upload_path": str(validation),
            "sha256": sha256_file(validation),
            "examples": len(pf.split.validation_lines),
            "tokens": sum(ds.result(i).tokens for i in pf.split.validation_lines),
            "split": pf.split.to_json(),
        }
        request = dataclasses.replace(request, dataset=train, validation=validation)
    request = dataclasses.replace(request, model=plan.model, hyperparameters=hyper)
    write_request(folder, request)
    registry.save(record)
    registry.append(record.id, "events", {"type": "status", "message": f"created by the {source}", "status": "created"})
    spawn(registry, record.id, env=env)
    return record


def write_request(folder: Path, request: Any) -> None:
    data = request.to_json()
    data["dataset"] = str(Path(request.dataset).resolve())
    data["validation"] = str(Path(request.validation).resolve()) if request.validation else None
    atomic_write_text(folder / REQUEST_FILE, json.dumps(data, indent=2, default=str) + "\n")


def spawn(registry: RunRegistry, run_id: str, *flags: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a worker for the run in its own session (it survives the caller); its output goes to worker.log."""
    reap()
    folder = registry.folder(run_id)
    full_env = {**os.environ, **(env or {}), "PYTHONUNBUFFERED": "1"}
    with (folder / "worker.log").open("ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "tuneline.training.worker", str(folder.resolve()), *flags],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=str(folder),
            env=full_env,
            start_new_session=True,
            close_fds=True,
        )
    _CHILDREN.append(proc)
    atomic_write_text(folder / STARTING_FILE, json.dumps({"pid": proc.pid, "at": time.time()}) + "\n")
    return proc


def reap() -> None:
    """Collect workers that ended (a long-lived caller such as the server would otherwise keep zombies)."""
    for proc in list(_CHILDREN):
        if proc.poll() is not None:
            _CHILDREN.remove(proc)


def is_followed(registry: RunRegistry, run_id: str) -> bool:
    """True while a worker holds the run's lock, or one was just started and has not taken it yet."""
    reap()
    folder = registry.folder(run_id)
    if _starting(folder):
        return True
    path = folder / LOCK_FILE
    if not path.exists():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover
        record = registry.get(run_id)
        return bool(record.pid) and pid_alive(record.pid)
    with path.open("a+") as fh:
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
        return False


def _starting(folder: Path) -> bool:
    try:
        info = json.loads((folder / STARTING_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return time.time() - float(info.get("at", 0)) < 30 and pid_alive(int(info.get("pid", 0)))


def cancel_run(registry: RunRegistry, run_id: str, *, wait: float = 0.0) -> str:
    """Ask the run to stop: a cancel request on disk plus SIGTERM to its worker (or a new worker that cancels)."""
    try:
        record = registry.get(run_id)
    except KeyError:
        raise LaunchError(f"no run {run_id!r} in {registry.root}") from None
    if record.finished:
        return record.status
    atomic_write_text(registry.folder(run_id) / CANCEL_FILE, json.dumps({"requested_at": now()}) + "\n")
    registry.append(run_id, "events", {"type": "status", "message": "cancel requested"})
    if is_followed(registry, run_id) and record.pid:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(record.pid, signal.SIGTERM)
    else:
        spawn(registry, run_id, "--cancel")
    return wait_for(registry, run_id, wait) if wait else registry.get(run_id).status


def wait_for(registry: RunRegistry, run_id: str, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while True:
        record = registry.get(run_id)
        if record.finished or time.monotonic() >= deadline:
            return record.status
        time.sleep(0.1)


def resume_run(registry: RunRegistry, run_id: str, *, env: dict[str, str] | None = None) -> str:
    """Follow (hosted) or continue (local) a run whose worker is gone."""
    try:
        record = registry.get(run_id)
    except KeyError:
        raise LaunchError(f"no run {run_id!r} in {registry.root}") from None
    if record.status == "succeeded":
        raise LaunchError(f"run {run_id} already succeeded ({record.result_model or 'no model name'})")
    if is_followed(registry, run_id):
        return run_id
    problem = key_problem(record.backend, env)
    if problem:
        raise LaunchError(problem)
    with contextlib.suppress(FileNotFoundError):
        (registry.folder(run_id) / CANCEL_FILE).unlink()
    if record.finished:
        # A watcher started right after this must not see the old final status before the worker takes over.
        registry.update(run_id, status="queued", error=None)
    spawn(registry, run_id, "--resume", env=env)
    return run_id


def recover(registry: RunRegistry, *, env: dict[str, str] | None = None) -> list[str]:
    """Start a worker for every unfinished hosted run nobody follows (after an editor restart or a reboot)."""
    picked = []
    for record in registry.list():
        if record.finished or record.backend not in KEY_ENV or is_followed(registry, record.id):
            continue
        if key_problem(record.backend, env):
            continue
        cancel = (registry.folder(record.id) / CANCEL_FILE).exists()
        spawn(registry, record.id, *(["--cancel"] if cancel else []), env=env)
        picked.append(record.id)
    return picked


def list_runs(registry: RunRegistry) -> list[dict[str, Any]]:
    return [r.to_json() for r in registry.list()]
