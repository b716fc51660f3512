"""Fixtures for the training tests: the fake fine-tuning and chat servers, a project folder with datasets, fast
timings, and a finished run to evaluate."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tuneline.training.runs import RunRegistry

from .fake_chat import BASE, TUNED, FakeChat, base_model, finished_run, held_out_lines, tuned_model
from .fake_providers import FakeProviders

FAST = {
    "TUNELINE_POLL_INTERVAL": "0.05",
    "TUNELINE_RETRY_BASE": "0.02",
    "TUNELINE_RETRY_ATTEMPTS": "4",
    "TUNELINE_HTTP_TIMEOUT": "10",
    "TUNELINE_CANCEL_WAIT": "20",
}


def chat_line(i: int, answer: str | None = None) -> str:
    return json.dumps(
        {
            "messages": [
                {"role": "system", "content": "You are Nimbus, a concise support assistant."},
                {"role": "user", "content": f"Question number {i}: how do I do task {i}?"},
                {"role": "assistant", "content": answer or f"To do task {i}, open settings and choose option {i}."},
            ]
        }
    )


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return path


@pytest.fixture(autouse=True)
def state_dir(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The user's tuneline state folder (the record of runs started here), outside every project, one per test."""
    path = tmp_path_factory.mktemp("state")
    monkeypatch.setenv("TUNELINE_STATE_DIR", str(path))
    return path


@pytest.fixture
def providers() -> Iterator[FakeProviders]:
    with FakeProviders() as fp:
        yield fp


@pytest.fixture
def env(providers: FakeProviders, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """The fake providers' URLs and keys plus fast timings, in this process (and so in spawned workers)."""
    values = {**providers.env, **FAST}
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("TUNELINE_RUNS_DIR", raising=False)
    return values


@pytest.fixture
def chat(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeChat]:
    """The chat-completions fake, its URLs and keys plus fast timings in this process (and so in its children)."""
    with FakeChat() as fc:
        for key, value in {**fc.env, **FAST}.items():
            monkeypatch.setenv(key, value)
        monkeypatch.delenv("TUNELINE_RUNS_DIR", raising=False)
        yield fc


@pytest.fixture
def run(project: Path, chat: FakeChat) -> Path:
    """A finished run started here whose validation file (val.jsonl) holds the eight held-out examples of
    `held_out_lines`, with the fake's tuned and base models answering them. Returns the run folder."""
    lines, refs = held_out_lines()
    chat.state.models[TUNED] = tuned_model(refs)
    chat.state.models[BASE] = base_model
    return finished_run(project, write_lines(project / "val.jsonl", lines))


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """A project folder (tuneline.toml marks its root) with a clean 30-example chat dataset."""
    (tmp_path / "tuneline.toml").write_text("", encoding="utf-8")
    write_lines(tmp_path / "data.jsonl", [chat_line(i) for i in range(30)])
    return tmp_path


@pytest.fixture
def registry(project: Path) -> RunRegistry:
    return RunRegistry(project / ".tuneline" / "runs")


@pytest.fixture(autouse=True)
def _no_stray_workers(request: pytest.FixtureRequest) -> Iterator[None]:
    """Kill (by pid) any worker a test started and left running."""
    from tuneline.training import launch

    before = set(id(p) for p in launch._CHILDREN)
    yield
    for proc in list(launch._CHILDREN):
        if id(proc) in before:
            continue
        if proc.poll() is None:
            with_timeout_kill(proc.pid)
        proc.wait(timeout=10)
        launch._CHILDREN.remove(proc)


def with_timeout_kill(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def wait_until(predicate, timeout: float = 20.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def run_files_text(folder: Path) -> str:
    """Everything tuneline wrote for a run, as one string (to grep for secrets)."""
    return "\n".join(p.read_text(encoding="utf-8", errors="replace") for p in sorted(folder.rglob("*")) if p.is_file())


def plant_run(project: Path, dataset: Path, *, run_id: str = "20991231-235959-openai-c0ffee", **fields) -> Path:
    """A run folder as a repository could ship it: run.json and request.json naming `dataset` (anywhere on the
    machine), unfinished, with no record in the user's state folder. Returns the folder."""
    folder = project / ".tuneline" / "runs" / run_id
    folder.mkdir(parents=True)
    record = {
        "id": run_id,
        "backend": "openai",
        "model": "gpt-4o-mini-2024-07-18",
        "status": "validating",
        "created_at": "2099-12-31T23:59:59Z",
        "updated_at": "2099-12-31T23:59:59Z",
        "dataset": {"path": str(dataset), "sha256": "0" * 64, "examples": 30, "tokens": 1000},
        "hyperparameters": {"n_epochs": 50},
        "remote": None,
        "progress": {"step": 0},
        **fields,
    }
    (folder / "run.json").write_text(json.dumps(record), encoding="utf-8")
    request = {"dataset": str(dataset), "model": "gpt-4o-mini-2024-07-18", "hyperparameters": {"n_epochs": 50}}
    (folder / "request.json").write_text(json.dumps(request), encoding="utf-8")
    return folder


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under `folder` with its bytes (to show nothing was written)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def record_run(registry: RunRegistry, dataset: Path, backend: str, monkeypatch: pytest.MonkeyPatch, **kw: Any):
    """Record a checked run as `tuneline train` would, without starting a worker process (`follow` runs it here).
    `kw`: the TrainRequest's fields, and `split`."""
    from tuneline.training import launch
    from tuneline.training.backends.base import TrainRequest
    from tuneline.training.preflight import run_preflight

    monkeypatch.setattr(launch, "spawn", lambda *a, **k: None)
    split = kw.pop("split", None)
    pf = run_preflight(TrainRequest(dataset=dataset, **kw), backend, split=split)
    assert pf.ok, pf.refused or pf.errors
    return launch.start_run(registry, pf)


def follow(registry: RunRegistry, record: Any, mode: str = "run") -> tuple[int, Any]:
    """The worker in this process (fast, and its failures show as tracebacks): its exit code and the run after."""
    from tuneline.training.worker import Worker

    rc = Worker(registry.folder(record.id)).run(mode)
    return rc, registry.get(record.id)


def events(registry: RunRegistry, run_id: str) -> list[dict]:
    return list(registry.read(run_id, "events"))
