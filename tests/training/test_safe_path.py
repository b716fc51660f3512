"""Safe path mode: a `tuneline/` package or a `json.py` planted in the project or in a run folder is never imported
by a process tuneline starts (the worker, and what it starts), through the installed `tuneline` command."""

from __future__ import annotations

import importlib.util
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.training import launch

from .conftest import wait_until

TUNELINE = Path(sys.executable).parent / "tuneline"  # the console script, as a user runs it


def plant_code(folder: Path, markers: Path) -> None:
    """A package and a module that, if ever imported, leave a marker file naming where they were imported from."""
    write = f"import pathlib; pathlib.Path({str(markers)!r}, __name__ + '-' + str(abs(hash(__file__)))).touch()\n"
    (folder / "tuneline").mkdir()
    (folder / "tuneline" / "__init__.py").write_text(write, encoding="utf-8")
    (folder / "json.py").write_text(write, encoding="utf-8")


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(TUNELINE), *args], cwd=cwd, capture_output=True, text=True, timeout=60, env=dict(os.environ)
    )


def test_planted_code_is_never_imported_by_workers(env, project, registry, providers, state_dir, tmp_path_factory):
    markers = tmp_path_factory.mktemp("markers")
    plant_code(project, markers)
    # the plant is live: a plain `python` started in that folder imports it
    plain = {k: v for k, v in os.environ.items() if k != "PYTHONSAFEPATH"}
    subprocess.run([sys.executable, "-c", "import json"], cwd=project, check=True, timeout=30, env=plain)
    assert [p.name.split("-")[0] for p in markers.iterdir()] == ["json"]
    for p in markers.iterdir():
        p.unlink()

    providers.state.outcome = "hang"
    out = cli("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    wait_until(lambda: registry.get(run_id).status == "running" and registry.get(run_id).pid)
    pid = registry.get(run_id).pid
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    if sys.version_info >= (3, 11):
        assert cmdline[1] == b"-P", cmdline
    assert Path(f"/proc/{pid}/cwd").resolve() == state_dir.resolve(), "a folder no repository controls"
    assert b"PYTHONSAFEPATH=1" in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")

    # the run folder gets its own plant; the worker dies; recovery (what the editor does) starts a new one
    folder = registry.folder(run_id)
    plant_code(folder, markers)
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not launch.is_followed(registry, run_id))
    assert launch.recover(registry) == [run_id]
    wait_until(lambda: registry.get(run_id).pid not in (None, pid))
    pid = registry.get(run_id).pid
    os.killpg(pid, signal.SIGKILL)  # and dies again: `tuneline runs resume`, from inside the run folder
    wait_until(lambda: not launch.is_followed(registry, run_id))
    for job in providers.state.jobs.values():
        job.outcome = "succeeded"
    resumed = cli("runs", "resume", run_id, cwd=folder)
    assert resumed.returncode == 0 and "Done: ft:" in resumed.stdout, resumed.stdout + resumed.stderr
    assert list(markers.iterdir()) == [], "no planted code ran"


@pytest.mark.skipif(importlib.util.find_spec("torch") is None, reason="the local backend's extra is not installed")
def test_the_local_preflight_child_does_not_import_planted_code(project, tmp_path_factory):
    """The local backend checks the file in a child process started from the caller's folder (here a repository)."""
    markers = tmp_path_factory.mktemp("markers")
    plant_code(project, markers)
    out = cli(
        "train",
        "data.jsonl",
        "--backend",
        "local",
        "--base-model",
        "/nonexistent",
        "--device",
        "cpu",
        "--dry-run",
        cwd=project,
    )
    assert out.returncode == 1 and "/nonexistent: no such model folder" in out.stdout, out.stdout + out.stderr
    assert list(markers.iterdir()) == [], "no planted code ran"
