"""Starting, cancelling, resuming and recovering runs: what the CLI and the language server share.

Training never runs in the caller's process: `start_run` writes the run folder and starts the worker
(`python -m tuneline.training.worker`) in its own session, with the caller's environment (where API keys live)
plus any extra variables the caller hands over. Nothing here imports an SDK or torch.

A run is "followed" while a worker holds the lock on its folder. `recover` starts a worker for every unfinished
hosted run that nobody follows, which is how runs survive editor restarts and reboots.

Only runs this user started here are ever started, resumed, recovered or cancelled (`provenance`): `start_run`
records the approved run in the user's state folder before its worker starts, and every other path checks that
record, and that the files still to upload are the approved ones, before it starts a worker. Workers run in safe
path mode from a neutral folder (`processes`), so nothing in the workspace or the run folder is importable.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from . import provenance
from .backends.registry import KEY_ENV, key_variable, required_env
from .liveness import is_followed, mark_stalled, unstall
from .preflight import Preflight, verdict
from .processes import child_env, neutral_cwd, python_command, start_detached
from .runs import (
    CANCEL_FILE,
    DEFAULT_ROOT,
    REQUEST_FILE,
    STARTING_FILE,
    RunRecord,
    RunRegistry,
    atomic_write_text,
    new_run_id,
    now,
    read_small,
)
from .split import write_split

__all__ = [
    "LaunchError",
    "cancel_run",
    "is_followed",
    "list_runs",
    "project_root",
    "recover",
    "registry_for",
    "resume_run",
    "spawn",
    "start_run",
]

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


def key_problem(backend: str, env: dict[str, str] | None = None, options: dict[str, Any] | None = None) -> str | None:
    """A sentence when the backend's API key (or its endpoint) is missing from the environment the worker will
    get. `options` are the run's request options: they may name another key variable or carry the endpoint."""
    merged = {**os.environ, **(env or {})}
    missing = required_env(backend, options, merged)
    if not missing:
        return None
    name, where = missing[0]
    if name == key_variable(backend, options):
        return f"{name} is not set: {where} and put it in that environment variable (the editor passes it on)"
    return f"{name} is not set: put {where} there (the editor passes it on)"


def request_options(registry: RunRegistry, run_id: str) -> dict[str, Any]:
    """The options of a run's request.json (endpoint, key variable), for the key check before it is resumed."""
    try:
        data = json.loads(read_small(registry.folder(run_id) / REQUEST_FILE))
    except (OSError, ValueError):
        return {}
    options = data.get("options") if isinstance(data, dict) else None
    return options if isinstance(options, dict) else {}


def start_run(
    registry: RunRegistry,
    pf: Preflight,
    *,
    env: dict[str, str] | None = None,
    source: str = "cli",
    approval: str = "asked",
) -> RunRecord:
    """Record a checked run the user approved (`approval` says how: --yes, asked, editor) and start its worker.
    Refuses a pre-flight that did not pass."""
    if not pf.ok or pf.plan is None:
        raise LaunchError(verdict(pf))
    problem = key_problem(pf.backend, env, pf.request.options)
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
        record.dataset.update(upload_path=str(train), sha256=provenance.sha256_file(train), split=pf.split.to_json())
        record.validation = {
            "path": str(validation),
            "upload_path": str(validation),
            "sha256": provenance.sha256_file(validation),
            "examples": len(pf.split.validation_lines),
            "tokens": sum(ds.result(i).tokens for i in pf.split.validation_lines),
            "split": pf.split.to_json(),
        }
        request = dataclasses.replace(request, dataset=train, validation=validation)
    request = dataclasses.replace(request, model=plan.model, hyperparameters=hyper)
    write_request(folder, request)
    registry.save(record)
    registry.append(record.id, "events", {"type": "status", "message": f"created by the {source}", "status": "created"})
    try:
        provenance.remember(registry, record, source=source, approval=approval)
    except (provenance.ProvenanceError, OSError) as exc:
        registry.update(record.id, status="failed", error=f"not started: {exc}")
        raise LaunchError(f"not started: {exc}") from None
    spawn(registry, record.id, env=env)
    return record


def write_request(folder: Path, request: Any) -> None:
    data = request.to_json()
    data["dataset"] = str(Path(request.dataset).resolve())
    data["validation"] = str(Path(request.validation).resolve()) if request.validation else None
    atomic_write_text(folder / REQUEST_FILE, json.dumps(data, indent=2, default=str) + "\n")


def _get(registry: RunRegistry, run_id: str) -> RunRecord:
    try:
        return registry.get(run_id)
    except KeyError:
        raise LaunchError(f"no run {run_id!r} in {registry.root}") from None
    except ValueError:
        raise LaunchError(f"run {run_id!r} in {registry.root} has a run.json tuneline did not write") from None


def _ours(registry: RunRegistry, run_id: str) -> provenance.Origin:
    """The run's state record, or LaunchError with one sentence when this user did not start it here."""
    verdict = provenance.check(registry, run_id)
    if verdict.origin is None:
        raise LaunchError(f"{verdict.problem}; tuneline will not start, resume or cancel it")
    return verdict.origin


def spawn(registry: RunRegistry, run_id: str, *flags: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start a worker for one of our runs in its own session (it survives the caller); its output goes to
    worker.log. Safe path mode and a neutral working folder: nothing in the workspace or run folder is importable.
    The run's nonce travels in the environment only."""
    origin = _ours(registry, run_id)
    reap()
    folder = registry.folder(run_id).resolve()
    full_env = child_env({**os.environ, **(env or {})}, PYTHONUNBUFFERED="1", **{provenance.NONCE_ENV: origin.nonce})
    try:
        cwd = neutral_cwd()
    except provenance.ProvenanceError as exc:
        raise LaunchError(str(exc)) from None
    marker = folder / STARTING_FILE
    atomic_write_text(marker, json.dumps({"pid": None, "at": time.time()}) + "\n")  # followers wait, not stall
    try:
        proc = start_detached(
            python_command("tuneline.training.worker", str(folder), *flags), folder / "worker.log", cwd, full_env
        )
    except OSError as exc:
        marker.unlink(missing_ok=True)
        raise LaunchError(f"cannot start the training process ({exc.strerror or exc})") from None
    _CHILDREN.append(proc)
    if marker.exists():  # the worker removes it once it holds the lock
        atomic_write_text(marker, json.dumps({"pid": proc.pid, "at": time.time()}) + "\n")
    return proc


def reap() -> None:
    """Collect workers that ended (a long-lived caller such as the server would otherwise keep zombies)."""
    for proc in list(_CHILDREN):
        if proc.poll() is not None:
            _CHILDREN.remove(proc)


def cancel_run(registry: RunRegistry, run_id: str, *, wait: float = 0.0) -> str:
    """Ask one of our runs to stop: a cancel request on disk plus SIGTERM to its worker (or a new worker that
    cancels). A run not started here is refused before anything is written or sent."""
    record = _get(registry, run_id)
    _ours(registry, run_id)
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
    """The run's status once it finished or stalled, or after `timeout` seconds."""
    from .liveness import settle

    deadline = time.monotonic() + timeout
    while True:
        record, stop = settle(registry, run_id)
        if stop or time.monotonic() >= deadline:
            return record.status
        time.sleep(0.1)


def _data_problem(registry: RunRegistry, record: RunRecord, origin: provenance.Origin) -> str | None:
    """Whatever a worker may still upload or train on must be the file approved, where it was approved. A hosted
    job that exists is only followed, so a dataset edited meanwhile does not matter."""
    if record.backend != "local" and (record.remote or {}).get("job_id"):
        return None
    return provenance.verify_data(registry, origin)


def resume_run(registry: RunRegistry, run_id: str, *, env: dict[str, str] | None = None) -> str:
    """Follow (hosted) or continue (local) one of our runs whose worker is gone."""
    record = _get(registry, run_id)
    origin = _ours(registry, run_id)
    if record.status == "succeeded":
        raise LaunchError(f"run {run_id} already succeeded ({record.result_model or 'no model name'})")
    if is_followed(registry, run_id):
        return run_id
    problem = key_problem(record.backend, env, request_options(registry, run_id)) or _data_problem(
        registry, record, origin
    )
    if problem:
        raise LaunchError(problem)
    with contextlib.suppress(FileNotFoundError):
        (registry.folder(run_id) / CANCEL_FILE).unlink()
    if record.finished:
        # A watcher started right after this must not see the old final status before the worker takes over.
        registry.update(run_id, status="queued", error=None)
    else:
        unstall(registry, record)
    spawn(registry, run_id, "--resume", env=env)
    return run_id


def recover(registry: RunRegistry, *, env: dict[str, str] | None = None) -> list[str]:
    """Start a worker for every unfinished hosted run of ours that nobody follows (after an editor restart or a
    reboot; a stalled one is tried again). Runs not started here are left alone: listed, never started."""
    picked = []
    for record in registry.list():
        if record.finished or record.backend not in KEY_ENV or is_followed(registry, record.id):
            continue
        verdict = provenance.check(registry, record.id, record.backend)
        if verdict.origin is None or key_problem(record.backend, env, request_options(registry, record.id)):
            continue
        problem = _data_problem(registry, record, verdict.origin)
        if problem:
            if record.status != "stalled" or record.error != problem:
                mark_stalled(registry, record, problem, hint=None)
            continue
        cancel = (registry.folder(record.id) / CANCEL_FILE).exists()
        unstall(registry, record)
        spawn(registry, record.id, *(["--cancel"] if cancel else []), env=env)
        picked.append(record.id)
    return picked


def list_runs(registry: RunRegistry) -> list[dict[str, Any]]:
    """Every run.json, newest first, plus `startedHere` and `origin` (why a run is read-only), which no file in the
    run folder can set."""
    return [{**r.to_json(), **provenance.origin_fields(registry, r)} for r in registry.list()]
