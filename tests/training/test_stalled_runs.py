"""A run whose worker is gone ends in a state the user sees (`stalled`, the reason, the command that goes on), and
every follower stops: `tuneline train`, `tuneline runs watch`. Real CLI and worker processes, fake provider."""

from __future__ import annotations

import os
import signal
import time

from tuneline.training import launch
from tuneline.training.liveness import settle

from .conftest import chat_line, wait_until, write_lines
from .test_cli_runs import tuneline


def test_network_down_stalls_the_run_and_train_stops_following(env, project, registry, providers):
    providers.state.inject(r"/openai/v1/", drop=True, times=1000)
    began = time.monotonic()
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", cwd=project)
    took = time.monotonic() - began
    assert out.returncode == 1 and took < 30, (took, out.stdout, out.stderr)
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    record = registry.get(run_id)
    assert record.status == "stalled" and record.pid is None and not launch.is_followed(registry, run_id)
    assert record.error.startswith("cannot reach OpenAI while uploading the training file")
    assert f"tuneline runs resume {run_id}" in record.error
    assert out.stderr.count("\n") == 1 and f"run {run_id} stalled: cannot reach OpenAI" in out.stderr
    assert "stalled" in tuneline("runs", "list", cwd=project).stdout
    watched = tuneline("runs", "watch", run_id, cwd=project, timeout=20)
    assert watched.returncode == 1 and "stalled" in watched.stdout, "watch stops at once, it does not restart it"
    assert registry.get(run_id).status == "stalled"
    # the network is back: resume follows the run to the end, uploading once
    providers.state.injections.clear()
    resumed = tuneline("runs", "resume", run_id, cwd=project)
    assert resumed.returncode == 0 and "Done: ft:" in resumed.stdout, resumed.stdout + resumed.stderr
    assert len(providers.state.contents) == 1 and len(providers.state.jobs) == 1
    done = registry.get(run_id)
    assert done.status == "succeeded" and done.error is None and "stalled_from" not in done.extra


def test_a_dataset_changed_while_stalled_is_never_uploaded(env, project, registry, providers):
    providers.state.inject(r"/openai/v1/", drop=True, times=1000)
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project)
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    wait_until(lambda: registry.get(run_id).status == "stalled")
    providers.state.injections.clear()
    heard = len(providers.state.requests)  # the dropped attempts
    write_lines(project / "data.jsonl", [chat_line(i, "edited after the cost was confirmed") for i in range(30)])
    resumed = tuneline("runs", "resume", run_id, cwd=project)
    assert resumed.returncode == 2 and resumed.stderr.count("\n") == 1
    assert "data.jsonl changed since you approved run" in resumed.stderr
    assert launch.recover(registry) == [], "recovery does not upload it either"
    record = registry.get(run_id)
    assert record.status == "stalled" and "changed since you approved" in record.error
    assert providers.state.contents == {} and providers.state.jobs == {}
    assert len(providers.state.requests) == heard, "nothing more reached the provider"


def test_followers_stop_at_a_dead_run_that_is_no_longer_ours_and_write_nothing(env, project, registry, providers):
    providers.state.outcome = "hang"
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project)
    run_id = out.stdout.split("Started run ")[1].split(" ")[0]
    wait_until(lambda: registry.get(run_id).status == "running" and registry.get(run_id).pid)
    os.killpg(registry.get(run_id).pid, signal.SIGKILL)
    wait_until(lambda: not launch.is_followed(registry, run_id))
    request = registry.folder(run_id) / "request.json"
    original = request.read_bytes()
    request.write_bytes(original.replace(b'"n_epochs": 3', b'"n_epochs": 50'))
    run_json = (registry.folder(run_id) / "run.json").read_bytes()
    record, stop = settle(registry, run_id)
    assert stop and record.status == "running", "followers stop"
    assert launch.recover(registry) == [] and (registry.folder(run_id) / "run.json").read_bytes() == run_json
    request.write_bytes(original)
    record, stop = settle(registry, run_id)
    assert stop and record.status == "stalled" and registry.get(run_id).status == "stalled"
