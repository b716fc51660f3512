"""`tuneline train` / `tuneline runs` end to end: real CLI processes, real worker processes, real SDKs, fake server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from tuneline.training import launch
from tuneline.training.runs import RunRegistry

from .conftest import run_files_text, wait_until, write_lines
from .fake_providers import OPENAI_KEY, TOGETHER_KEY

REPO = Path(__file__).resolve().parents[2]


def tuneline(
    *args: str, cwd: Path, input: str | None = None, timeout: float = 60, extra_env: dict[str, str] | None = None
) -> subprocess.CompletedProcess:
    """`tuneline ARGS` in a child process; `extra_env` adds variables (an empty value removes one)."""
    env = dict(os.environ)
    for name, value in (extra_env or {}).items():
        if value:
            env[name] = value
        else:
            env.pop(name, None)
    return subprocess.run(
        [sys.executable, "-m", "tuneline", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        input=input,
        timeout=timeout,
        env=env,
    )


def test_dry_run_of_the_shipped_example_shows_the_preflight_and_uploads_nothing(tmp_path):
    out = tuneline("train", str(REPO / "examples" / "support-chat.jsonl"), "--backend", "openai", "--dry-run", cwd=REPO)
    assert out.returncode == 0, out.stderr
    assert "Estimated cost    $" in out.stdout and "Examples          62" in out.stdout
    assert "Ready to train." in out.stdout and "Dry run: nothing was uploaded." in out.stdout


def test_broken_file_is_refused_with_positions(project):
    write_lines(project / "bad.jsonl", ['{"messages": [{"role": "assitant", "content": "x"}]}'] * 3)
    out = tuneline("train", "bad.jsonl", "--backend", "openai", "--yes", cwd=project)
    assert out.returncode == 1
    assert "bad.jsonl:1:" in out.stdout and "TL105" in out.stdout and "Refused:" in out.stdout
    assert not (project / ".tuneline").exists()


def test_train_asks_before_spending_money(env, project):
    out = tuneline("train", "data.jsonl", "--backend", "openai", cwd=project)
    assert out.returncode == 2 and "pass --yes" in out.stderr and "Traceback" not in out.stderr
    assert not (project / ".tuneline").exists()


def test_train_end_to_end_through_the_cli(env, project, providers):
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--split", "--epochs", "2", "--yes", cwd=project)
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Ready to train." in out.stdout and "Started run" in out.stdout
    assert "Done: ft:gpt-4o-mini-2024-07-18:tuneline::" in out.stdout
    listed = tuneline("runs", "list", cwd=project)
    assert "succeeded" in listed.stdout and "→ ft:gpt-4o-mini" in listed.stdout
    shown = json.loads(tuneline("runs", "show", "last", "--json", cwd=project).stdout)
    run = shown["run"]
    assert run["status"] == "succeeded" and run["hyperparameters"]["n_epochs"] == 2
    assert run["validation"]["split"]["validation_examples"] == 3
    assert run["pid"] is None and shown["metrics"]
    text = tuneline("runs", "show", run["id"][-6:], cwd=project).stdout
    assert "checkpoint step 6" in text
    # the secret never reached the run folder, the worker's log or the CLI's output
    folder = project / ".tuneline" / "runs" / run["id"]
    assert (folder / "worker.log").exists()
    everything = run_files_text(folder) + out.stdout + out.stderr + listed.stdout + text
    assert OPENAI_KEY not in everything and TOGETHER_KEY not in everything


def test_together_through_the_cli_detached_then_watch(env, project, providers):
    out = tuneline("train", "data.jsonl", "--backend", "together", "--yes", "--detach", cwd=project)
    assert out.returncode == 0, out.stderr
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    watched = tuneline("runs", "watch", run_id, cwd=project)
    assert watched.returncode == 0 and "Done: tuneline-test/" in watched.stdout


def test_cancel_through_the_cli(env, project, providers):
    providers.state.outcome = "hang"
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project)
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    registry = RunRegistry(project / ".tuneline" / "runs")
    wait_until(lambda: registry.get(run_id).status == "running")
    cancelled = tuneline("runs", "cancel", run_id, cwd=project)
    assert cancelled.returncode == 0 and f"Run {run_id} cancelled." in cancelled.stdout
    assert registry.get(run_id).status == "cancelled"
    job = next(iter(providers.state.jobs.values()))
    assert job.status == "cancelled"
    wait_until(lambda: not launch.is_followed(registry, run_id))


def test_restart_recovery_picks_up_runs_in_flight(env, project, registry, providers):
    """A worker killed mid-run (editor closed, machine rebooted) is replaced, and the run finishes."""
    providers.state.outcome = "hang"
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project)
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    wait_until(lambda: registry.get(run_id).status == "running" and registry.get(run_id).pid)
    pid = registry.get(run_id).pid
    os.killpg(pid, signal.SIGKILL)
    wait_until(lambda: not launch.is_followed(registry, run_id))
    steps_before = len(list(registry.read(run_id, "metrics")))
    listed = tuneline("runs", "list", cwd=project)
    assert "not followed" in listed.stdout
    for job in providers.state.jobs.values():
        job.outcome = "succeeded"
    assert launch.recover(registry) == [run_id]
    assert launch.recover(registry) == [], "a worker just started counts as following the run"
    wait_until(lambda: registry.get(run_id).status == "succeeded")
    record = registry.get(run_id)
    assert record.result_model and len(providers.state.jobs) == 1
    events = [e["message"] for e in registry.read(run_id, "events")]
    assert "following the run again (recovered)" in events
    metrics = list(registry.read(run_id, "metrics"))
    ids = [m["remote_id"] for m in metrics]
    assert len(ids) == len(set(ids)) and len(metrics) >= steps_before, "no event recorded twice after recovery"


def test_runs_commands_explain_bad_ids(project):
    out = tuneline("runs", "show", "nope", cwd=project)
    assert out.returncode == 2 and "no run 'nope'" in out.stderr and "Traceback" not in out.stderr


def test_bad_training_options_are_one_line_and_exit_2(project):
    """The CLI's side of the one epochs rule (analysis/epochs.py) and TrainRequest.from_options: nothing starts."""
    for flags, sentence in (
        (["--epochs", "0"], "--epochs must be a number from 1 to 50 or 'auto', not '0'"),
        (["--epochs", "51"], "--epochs must be a number from 1 to 50 or 'auto', not '51'"),
        (["--epochs", "three"], "--epochs must be a number from 1 to 50 or 'auto', not 'three'"),
        (["--batch-size", "0"], "--batch-size must be a whole number of at least 1, not 0"),
        (["--learning-rate", "-1"], "--learning-rate must be a number above 0, not -1.0"),
    ):
        out = tuneline("train", "data.jsonl", "--backend", "openai", "--dry-run", *flags, cwd=project)
        assert out.returncode == 2 and out.stderr.strip() == f"tuneline: error: {sentence}", (flags, out.stderr)
    assert not (project / ".tuneline").exists()
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--dry-run", "--epochs", "Auto", cwd=project)
    assert out.returncode == 0, out.stderr
