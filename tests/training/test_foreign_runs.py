"""Runs tuneline did not start here (planted by a repository, copied, tampered with) are shown read-only and never
start a worker or reach a provider: through the real CLI, with the fake provider's request log as the witness."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.training import launch, provenance
from tuneline.training.runs import RunRegistry

from .conftest import chat_line, plant_run, snapshot, wait_until, write_lines
from .test_cli_runs import tuneline

SECRET = "PRIVATE-NOTES-OUTSIDE-THE-PROJECT"


@pytest.fixture
def outside(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A valid dataset outside the project: what a planted run would like to upload."""
    folder = tmp_path_factory.mktemp("home")
    return write_lines(folder / "notes.jsonl", [chat_line(i, f"{SECRET} {i}") for i in range(30)])


def test_a_planted_run_is_listed_read_only_and_never_started(env, project, providers, outside):
    folder = plant_run(project, outside)
    before = snapshot(folder)
    listed = tuneline("runs", "list", cwd=project)
    assert listed.returncode == 0 and "(not started here: read-only)" in listed.stdout
    runs = json.loads(tuneline("runs", "list", "--json", cwd=project).stdout)
    assert [(r["id"], r["startedHere"]) for r in runs] == [(folder.name, False)]
    assert "no record of starting it" in runs[0]["origin"]
    for action in ("resume", "cancel"):
        out = tuneline("runs", action, folder.name, cwd=project)
        assert out.returncode == 2 and out.stdout == "", out.stdout
        assert out.stderr.count("\n") == 1 and "was not started here" in out.stderr, out.stderr
        assert "will not start, resume or cancel it" in out.stderr
    watched = tuneline("runs", "watch", folder.name, cwd=project, timeout=20)
    assert watched.returncode == 1 and "not started here: shown read-only" in watched.stdout
    shown = tuneline("runs", "show", folder.name, cwd=project)
    assert "origin" in shown.stdout and "no record of starting it" in shown.stdout
    assert providers.state.requests == [], "the provider heard nothing"
    assert snapshot(folder) == before, "nothing was written into the planted folder (no worker.log, no lock)"


def test_train_next_to_a_planted_run_uploads_only_the_approved_file(env, project, providers, outside):
    folder = plant_run(project, outside)
    before = snapshot(folder)
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", cwd=project)
    assert out.returncode == 0 and "Done: ft:" in out.stdout, out.stdout + out.stderr
    assert len(providers.state.jobs) == 1 and len(providers.state.contents) == 1
    uploaded = next(iter(providers.state.contents.values()))
    assert uploaded == (project / "data.jsonl").read_bytes() and SECRET.encode() not in uploaded
    assert snapshot(folder) == before
    runs = json.loads(tuneline("runs", "list", "--json", cwd=project).stdout)
    assert sorted((r["status"], r["startedHere"]) for r in runs) == [("succeeded", True), ("validating", False)]
    # `last` is the newest run started here, although the planted one claims a later date
    shown = json.loads(tuneline("runs", "show", "last", "--json", cwd=project).stdout)
    assert shown["run"]["startedHere"] is True and shown["run"]["status"] == "succeeded"


def test_recover_leaves_planted_runs_alone(env, project, registry, providers, outside):
    folder = plant_run(project, outside)
    plant_run(project, outside, run_id="20991231-235959-together-c0ffee", backend="together")
    before = snapshot(folder)
    assert launch.recover(registry) == []
    assert launch._CHILDREN == [] and providers.state.requests == [] and snapshot(folder) == before


def start_detached(project: Path) -> str:
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project)
    assert out.returncode == 0, out.stderr
    return out.stdout.split("Started run ")[1].split(" ")[0]


def test_copied_or_tampered_runs_are_not_ours(env, project, registry, providers, tmp_path_factory):
    run_id = start_detached(project)
    wait_until(lambda: registry.get(run_id).status == "succeeded")
    assert provenance.started_here(registry, run_id)
    # the same run folder copied into another project: same id, another place
    other = tmp_path_factory.mktemp("other")
    copy = RunRegistry(other / ".tuneline" / "runs")
    copy.root.mkdir(parents=True)
    subprocess.run(["cp", "-r", str(registry.folder(run_id)), str(copy.root)], check=True)
    verdict = provenance.check(copy, run_id)
    assert not verdict.here and "a copied or moved run folder is shown read-only" in verdict.problem
    # request.json edited after the user approved the run
    request = registry.folder(run_id) / "request.json"
    request.write_text(request.read_text().replace('"n_epochs": 3', '"n_epochs": 50'), encoding="utf-8")
    verdict = provenance.check(registry, run_id)
    assert not verdict.here and "request.json changed since you approved the run" in verdict.problem
    # run.json claiming another backend
    request.write_text(request.read_text().replace('"n_epochs": 50', '"n_epochs": 3'), encoding="utf-8")
    assert provenance.started_here(registry, run_id)
    registry.update(run_id, backend="together")
    assert "another backend" in provenance.check(registry, run_id).problem


def test_a_worker_started_by_hand_refuses_without_the_launchers_nonce(env, project, registry, providers):
    providers.state.outcome = "hang"
    run_id = start_detached(project)
    wait_until(lambda: registry.get(run_id).status == "running")
    launch.cancel_run(registry, run_id, wait=20)
    before = (registry.folder(run_id) / "run.json").read_bytes()
    requests = len(providers.state.requests)
    done = subprocess.run(
        [sys.executable, "-m", "tuneline.training.worker", str(registry.folder(run_id)), "--resume"],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != provenance.NONCE_ENV},
    )
    assert done.returncode == 2 and "not started by tuneline's launcher" in done.stderr
    assert (registry.folder(run_id) / "run.json").read_bytes() == before
    assert len(providers.state.requests) == requests


def test_hostile_run_folders_are_skipped_without_a_hang_or_a_traceback(env, project, outside):
    runs = project / ".tuneline" / "runs"
    fifo = runs / "fifo-run"
    fifo.mkdir(parents=True)
    os.mkfifo(fifo / "run.json")
    plant_run(project, outside, run_id="wrong-types", progress=[1], created_at=5)
    plant_run(project, outside, run_id="another-id-inside", id="20261130-000000-openai-abcdef")
    (runs / "deep").mkdir()
    (runs / "deep" / "run.json").write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    escape = plant_run(project, outside, run_id="escape", error="\x1b]0;pwned\x07\x1b[2J cleared")
    os.mkfifo(escape / "events.jsonl")
    os.mkfifo(escape / "worker.starting")
    listed = tuneline("runs", "list", cwd=project, timeout=30)
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert [line.split()[0] for line in listed.stdout.splitlines()] == ["escape"]
    assert "\x1b" not in listed.stdout and "\\x1b]0;pwned" in listed.stdout
    shown = tuneline("runs", "show", "escape", cwd=project, timeout=30)
    assert shown.returncode == 0 and "\x1b" not in shown.stdout
