"""`tuneline train --backend fireworks|azure|openai-compatible` and OpenAI's calendar, end to end: real CLI
processes, real worker processes, the real SDKs, the fake providers on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal

import pytest

from tuneline.training import launch

from .conftest import run_files_text, wait_until, write_lines
from .fake_providers import AZURE_KEY, COMPAT_KEY, FIREWORKS_KEY, OPENAI_KEY
from .test_cli_runs import tuneline

EXTRA = {
    "fireworks": [],
    "azure": [],
    "openai-compatible": ["--model", "gpt-4o-mini-2024-07-18"],
}


def flags(backend: str, providers) -> list[str]:
    if backend == "openai-compatible":
        return ["--base-url", providers.compat_url, *EXTRA[backend]]
    return EXTRA[backend]


def run_id_of(out) -> str:
    return out.stdout.split("Started run ")[1].split(" ")[0]


@pytest.mark.parametrize("backend", ["fireworks", "azure", "openai-compatible"])
def test_train_end_to_end_then_show(backend, env, project, providers):
    out = tuneline(
        "train", "data.jsonl", "--backend", backend, *flags(backend, providers), "--split", "--yes", cwd=project
    )
    assert out.returncode == 0, out.stdout + out.stderr
    assert "Ready to train." in out.stdout and "Done: " in out.stdout
    shown = json.loads(tuneline("runs", "show", "last", "--json", cwd=project).stdout)
    run = shown["run"]
    assert run["backend"] == backend and run["status"] == "succeeded" and shown["metrics"]
    assert run["result_model"] and run["result_model"] in out.stdout
    folder = project / ".tuneline" / "runs" / run["id"]
    everything = run_files_text(folder) + out.stdout + out.stderr
    for key in (FIREWORKS_KEY, AZURE_KEY, COMPAT_KEY, OPENAI_KEY):
        assert key not in everything


@pytest.mark.parametrize("backend", ["fireworks", "azure", "openai-compatible"])
def test_cancel_and_restart_recovery_through_the_cli(backend, env, project, registry, providers):
    providers.state.outcome = "hang"
    out = tuneline(
        "train", "data.jsonl", "--backend", backend, *flags(backend, providers), "--yes", "--detach", cwd=project
    )
    assert out.returncode == 0, out.stderr
    run_id = run_id_of(out)
    wait_until(lambda: registry.get(run_id).status == "running" and registry.get(run_id).pid)
    os.killpg(registry.get(run_id).pid, signal.SIGKILL)  # the editor closed, the machine rebooted
    wait_until(lambda: not launch.is_followed(registry, run_id))
    for job in providers.state.jobs.values():
        job.outcome = "succeeded"
    watched = tuneline("runs", "watch", run_id, cwd=project)
    assert watched.returncode == 0, watched.stdout + watched.stderr
    assert f"Nobody was following run {run_id}" in watched.stdout and "Done: " in watched.stdout
    assert len(providers.state.jobs) == 1, "the job is followed again, never created twice"
    # and cancel: a second run, cancelled from the CLI, stops the remote job
    providers.state.outcome = "hang"
    out = tuneline(
        "train", "data.jsonl", "--backend", backend, *flags(backend, providers), "--yes", "--detach", cwd=project
    )
    second = run_id_of(out)
    wait_until(lambda: registry.get(second).status == "running")
    cancelled = tuneline("runs", "cancel", second, cwd=project)
    assert cancelled.returncode == 0 and f"Run {second} cancelled." in cancelled.stdout
    job = providers.state.jobs[registry.get(second).remote["job_id"]]
    assert job.status in ("cancelled", "JOB_STATE_CANCELLED")


def test_openai_refuses_new_jobs_after_its_date_before_uploading(env, project, providers):
    out = tuneline(
        "train", "data.jsonl", "--backend", "openai", "--yes", cwd=project, extra_env={"TUNELINE_TODAY": "2027-01-07"}
    )
    assert out.returncode == 1, out.stdout + out.stderr
    refusal = next(line for line in out.stdout.splitlines() if line.startswith("Refused:"))
    assert "OpenAI stopped taking new fine-tuning jobs on 2027-01-06" in refusal
    assert "--backend together|fireworks|azure|local" in refusal
    assert not providers.state.requests, "nothing was sent: no upload, no job"
    assert not (project / ".tuneline").exists()


def test_openai_before_its_date_warns_and_runs_started_go_on_after_it(env, project, registry, providers):
    before = {"TUNELINE_TODAY": "2027-01-05"}
    dry = tuneline("train", "data.jsonl", "--backend", "openai", "--dry-run", cwd=project, extra_env=before)
    assert dry.returncode == 0 and "warning: OpenAI takes no new fine-tuning jobs from 2027-01-06" in dry.stdout
    providers.state.outcome = "hang"
    out = tuneline("train", "data.jsonl", "--backend", "openai", "--yes", "--detach", cwd=project, extra_env=before)
    run_id = run_id_of(out)
    wait_until(lambda: registry.get(run_id).status == "running" and registry.get(run_id).pid)
    os.killpg(registry.get(run_id).pid, signal.SIGKILL)
    wait_until(lambda: not launch.is_followed(registry, run_id))
    after = {"TUNELINE_TODAY": "2027-01-07"}
    resumed = tuneline("runs", "resume", run_id, "--detach", cwd=project, extra_env=after)
    assert resumed.returncode == 0, resumed.stderr
    wait_until(lambda: registry.get(run_id).status == "running" and launch.is_followed(registry, run_id))
    cancelled = tuneline("runs", "cancel", run_id, cwd=project, extra_env=after)
    assert cancelled.returncode == 0 and f"Run {run_id} cancelled." in cancelled.stdout
    assert len(providers.state.jobs) == 1


def test_a_run_approved_before_the_date_but_started_after_it_uploads_nothing(
    env, project, registry, providers, monkeypatch
):
    from tuneline.training.backends.base import TrainRequest
    from tuneline.training.preflight import run_preflight
    from tuneline.training.worker import Worker

    monkeypatch.setenv("TUNELINE_TODAY", "2027-01-05")
    monkeypatch.setattr(launch, "spawn", lambda *a, **k: None)
    record = launch.start_run(registry, run_preflight(TrainRequest(dataset=project / "data.jsonl"), "openai"))
    monkeypatch.setenv("TUNELINE_TODAY", "2027-01-06")
    assert Worker(registry.folder(record.id)).run("run") == 1
    done = registry.get(record.id)
    assert done.status == "failed" and "stopped taking new fine-tuning jobs on 2027-01-06" in done.error
    assert not providers.state.requests


@pytest.mark.parametrize(
    ("backend", "args", "env_drop", "sentence", "code"),
    [
        ("fireworks", [], "FIREWORKS_API_KEY", "FIREWORKS_API_KEY is not set: create one at", 2),
        ("azure", [], "AZURE_OPENAI_ENDPOINT", "Refused: AZURE_OPENAI_ENDPOINT is not set", 1),
        ("openai-compatible", ["--model", "m"], None, "needs the endpoint's address: pass --base-url URL", 1),
        (
            "openai-compatible",
            ["--model", "m", "--base-url", "http://api.example.com/v1"],
            None,
            "would send the API key unencrypted",
            1,
        ),
        (
            "openai-compatible",
            ["--model", "m", "--base-url", "https://api.example.com/v1", "--api-key-env", "NOPE_KEY"],
            None,
            "NOPE_KEY is not set",
            2,
        ),
    ],
)
def test_setup_problems_are_one_sentence_before_anything_is_sent(
    backend, args, env_drop, sentence, code, env, project, providers
):
    extra = {env_drop: ""} if env_drop else {}
    out = tuneline("train", "data.jsonl", "--backend", backend, *args, "--yes", cwd=project, extra_env=extra)
    assert out.returncode == code, out.stdout + out.stderr
    assert sentence in out.stdout + out.stderr and "Traceback" not in out.stderr
    assert not providers.state.requests


def test_azure_grader_is_checked_before_upload(env, project, providers):
    bad = project / "grader.json"
    bad.write_text(json.dumps({"type": "string_check", "name": "exact"}), encoding="utf-8")
    out = tuneline("train", "data.jsonl", "--backend", "azure", "--grader", str(bad), "--yes", cwd=project)
    assert out.returncode == 1
    assert "a string_check grader needs 'input', 'reference', 'operation'" in out.stdout
    write_lines(project / "broken.json", ["{not json"])
    out = tuneline("train", "data.jsonl", "--backend", "azure", "--grader", "broken.json", "--yes", cwd=project)
    assert out.returncode == 1 and "is not valid JSON" in out.stdout
    assert not providers.state.requests


def test_provider_error_through_the_cli_is_one_line(env, project, providers):
    providers.state.keys["fireworks"] = "fw_other0123456789abcdefghijklmnopqrst"
    out = tuneline("train", "data.jsonl", "--backend", "fireworks", "--yes", cwd=project)
    assert out.returncode == 1
    shown = json.loads(tuneline("runs", "show", "last", "--json", cwd=project).stdout)["run"]
    assert shown["status"] == "failed"
    assert shown["error"].startswith("Fireworks AI rejected the API key in FIREWORKS_API_KEY")
    assert shown["error"] in out.stdout + out.stderr and FIREWORKS_KEY not in out.stdout
