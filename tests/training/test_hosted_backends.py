"""The OpenAI and Together backends through their real SDKs, against the fake providers on 127.0.0.1.

The worker runs in this process here (fast, and its failures show as tracebacks); the CLI tests start real worker
processes.
"""

from __future__ import annotations

import json
import time

import pytest

from tuneline.training import launch, provenance
from tuneline.training.backends import openai_backend
from tuneline.training.backends.base import TrainRequest
from tuneline.training.preflight import run_preflight
from tuneline.training.runs import RunRegistry
from tuneline.training.worker import Worker

from .conftest import events, follow, record_run, run_files_text, write_lines
from .fake_providers import OPENAI_KEY, SELF_SERVE_MESSAGE, TOGETHER_KEY


@pytest.mark.parametrize("backend", ["openai", "together"])
def test_happy_path_with_split(backend, env, project, registry, providers, monkeypatch):
    record = record_run(registry, project / "data.jsonl", backend, monkeypatch, split=0.2, seed=7, suffix="nimbus")
    rc, done = follow(registry, record)
    assert rc == 0, done.error
    assert done.status == "succeeded" and done.error is None
    assert done.result_model and done.result_model.endswith(done.remote["job_id"][-6:])
    assert done.remote["training_file_id"] and done.remote["validation_file_id"]
    assert done.extra["checkpoints"], "checkpoints are listed when the job ends"
    metrics = list(registry.read(record.id, "metrics"))
    assert metrics and all(m["loss"] > 0 for m in metrics)
    assert [m["step"] for m in metrics] == sorted({m["step"] for m in metrics})
    # what reached the provider: the split files (24 + 6 examples, no overlap) and the planned epochs
    job = providers.state.jobs[done.remote["job_id"]]
    train = providers.state.contents[done.remote["training_file_id"]].decode().splitlines()
    valid = providers.state.contents[done.remote["validation_file_id"]].decode().splitlines()
    assert (len(train), len(valid)) == (24, 6) and not set(train) & set(valid)
    if backend == "openai":
        assert job.request["metadata"] == {"created_by": "tuneline", "tuneline_run": record.id}
        assert job.request["method"]["type"] == "supervised"
        assert job.request["method"]["supervised"]["hyperparameters"]["n_epochs"] == done.hyperparameters["n_epochs"]
        assert job.request["suffix"] == "nimbus" and job.request["seed"] == 7
        assert done.extra["trained_tokens"] == 12345
    else:
        assert job.request["n_epochs"] == done.hyperparameters["n_epochs"]
        assert job.request["training_type"]["type"] == "Lora" and job.request["random_seed"] == 7
        assert done.extra["provider_estimate_usd"] == 1.25
    statuses = [e.get("status") for e in events(registry, record.id) if e.get("status")]
    assert statuses[-1] == "succeeded" and "running" in statuses


def test_invalid_key_is_one_sentence_and_never_written(env, project, registry, providers, monkeypatch):
    wrong = "sk-proj-WRONGwrongWRONGwrong0123456789abcdefWRONG"
    monkeypatch.setenv("OPENAI_API_KEY", wrong)
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    rc, done = follow(registry, record)
    assert rc == 1 and done.status == "failed"
    assert done.error.startswith("OpenAI rejected the API key in OPENAI_API_KEY")
    text = run_files_text(registry.folder(record.id))
    assert wrong not in text and wrong[:12] not in text and wrong[-4:] + "." not in text
    assert "sk-proj" not in text


def test_self_serve_closed_names_the_other_backends(env, project, registry, providers, monkeypatch):
    providers.state.inject(
        r"/fine_tuning/jobs$",
        method="POST",
        status=403,
        body={"error": {"message": SELF_SERVE_MESSAGE, "type": "invalid_request_error", "code": None}},
    )
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    _, done = follow(registry, record)
    assert done.status == "failed"
    assert "closed self-serve fine-tuning" in done.error
    assert "--backend together|fireworks|azure|local" in done.error
    assert done.remote["training_file_id"], "the upload happened before the refusal"


def test_rate_limit_waits_as_retry_after_asks(env, project, registry, providers, monkeypatch):
    providers.state.inject(
        r"/fine_tuning/jobs$",
        method="POST",
        status=429,
        times=2,
        headers={"Retry-After": "0.3"},
        body={"error": {"message": "Rate limit reached", "type": "requests", "code": "rate_limit_exceeded"}},
    )
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    began = time.monotonic()
    _, done = follow(registry, record)
    assert done.status == "succeeded"
    assert time.monotonic() - began >= 0.6  # two waits of 0.3 s, not the 0.02 s exponential base
    waits = [e for e in events(registry, record.id) if e.get("retry_in") is not None]
    assert [w["retry_in"] for w in waits] == [0.3, 0.3]
    assert all("Retry-After" in w["message"] for w in waits)


def test_server_error_then_success_and_dropped_connection(env, project, registry, providers, monkeypatch):
    providers.state.inject(r"/openai/v1/files$", status=500, times=1)
    providers.state.inject(r"/fine_tuning/jobs/[^/]+$", method="GET", drop=True, times=2)
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    _, done = follow(registry, record)
    assert done.status == "succeeded"
    warnings = [e["message"] for e in events(registry, record.id) if e["type"] == "warning"]
    assert any("server error" in w for w in warnings)
    assert sum("cannot reach OpenAI" in w for w in warnings) == 2


def test_lost_create_reply_finds_the_tagged_job(env, project, registry, providers, monkeypatch):
    providers.state.inject(r"/fine_tuning/jobs$", method="POST", drop_reply=True)
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    _, done = follow(registry, record)
    assert done.status == "succeeded"
    assert len(providers.state.jobs) == 1, "no duplicate job after a lost reply"
    assert any("reply was lost" in e["message"] for e in events(registry, record.id))


def test_job_failure_quotes_openai_with_the_local_line(env, project, registry, providers, monkeypatch):
    providers.state.outcome = "failed"
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    rc, done = follow(registry, record)
    assert rc == 1 and done.status == "failed"
    assert "OpenAI's job failed: The job failed due to an invalid training file. Line 3" in done.error
    assert f"{project / 'data.jsonl'}:3" in done.error and "(invalid_training_file)" in done.error


def test_together_job_failure(env, project, registry, providers, monkeypatch):
    providers.state.outcome = "failed"
    record = record_run(registry, project / "data.jsonl", "together", monkeypatch)
    _, done = follow(registry, record)
    assert done.status == "failed" and done.error == "Together AI's job failed: Training file has an error"


def test_file_rejected_by_openai_quotes_the_line(env, project, registry, providers, monkeypatch):
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    # The file changes after the pre-flight (the provider is the last line of defence). The worker's own check of
    # the approved sha256 would refuse it first (tests/training/test_provenance.py): let it through here.
    monkeypatch.setattr(provenance, "verify_data", lambda *a, **k: None)
    write_lines(project / "data.jsonl", [json.dumps({"messages": []}), "[1, 2]"])
    _, done = follow(registry, record)
    assert done.status == "failed"
    assert done.error.startswith("OpenAI rejected the file: Invalid file format. Line 2 is not a dictionary")
    assert f"{project / 'data.jsonl'}:2" in done.error


def test_model_not_fine_tunable(env, project, registry, providers, monkeypatch):
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch, model="gpt-5-imaginary")
    assert "not in tuneline's model table" in " ".join(record.extra["warnings"])
    _, done = follow(registry, record)
    assert done.status == "failed"
    assert done.error.startswith("OpenAI cannot fine-tune gpt-5-imaginary")
    assert "--model" in done.error


def test_together_unknown_model(env, project, registry, providers, monkeypatch):
    record = record_run(registry, project / "data.jsonl", "together", monkeypatch, model="acme/NotAModel-1B")
    _, done = follow(registry, record)
    assert done.status == "failed" and done.error.startswith("Together AI cannot fine-tune acme/NotAModel-1B")


def test_together_refuses_when_the_account_cannot_pay(env, project, registry, providers, monkeypatch):
    providers.state.estimate = {"estimation_available": True, "allowed_to_proceed": False}
    record = record_run(registry, project / "data.jsonl", "together", monkeypatch)
    _, done = follow(registry, record)
    assert done.status == "failed" and "cannot cover it" in done.error
    assert not providers.state.jobs


def test_large_file_goes_through_the_uploads_api(env, project, registry, providers, monkeypatch):
    monkeypatch.setattr(openai_backend, "FILES_API_LIMIT", 1000)
    monkeypatch.setattr(openai_backend, "PART_SIZE", 1500)
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    _, done = follow(registry, record)
    assert done.status == "succeeded"
    size = (project / "data.jsonl").stat().st_size
    assert len(providers.state.parts) == -(-size // 1500) > 1
    content = providers.state.contents[done.remote["training_file_id"]]
    assert content == (project / "data.jsonl").read_bytes()
    assert any(e.get("parts") for e in events(registry, record.id))


def test_file_above_the_uploads_limit_is_refused_before_upload(env, project, monkeypatch):
    monkeypatch.setattr(openai_backend.BACKEND, "max_upload_bytes", 100)
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl"), "openai")
    assert not pf.ok and "OpenAI accepts at most" in pf.refused


def test_network_down_keeps_the_run_resumable(env, project, registry, providers, monkeypatch):
    providers.state.inject(r"/openai/v1/", drop=True, times=4)
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    rc, stalled = follow(registry, record)
    assert rc == 3 and stalled.status == "validating"
    assert stalled.error.startswith("cannot reach OpenAI while uploading the training file")
    assert f"tuneline runs resume {record.id}" in stalled.error
    rc, done = follow(registry, record, "resume")
    assert rc == 0 and done.status == "succeeded" and done.error is None


def test_no_key(env, project, registry, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY")
    monkeypatch.setattr(launch, "spawn", lambda *a, **k: None)
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl"), "openai")
    with pytest.raises(launch.LaunchError, match="OPENAI_API_KEY is not set"):
        launch.start_run(registry, pf)
    assert not registry.list(), "nothing is recorded for a run that cannot start"
    # a worker that somehow lacks the key says the same, without a traceback
    monkeypatch.setenv("OPENAI_API_KEY", OPENAI_KEY)
    record = launch.start_run(registry, pf)
    monkeypatch.delenv("OPENAI_API_KEY")
    _, done = follow(registry, record)
    assert done.status == "failed" and done.error.startswith("OPENAI_API_KEY is not set")


def test_recovery_by_metadata_after_a_crash_between_create_and_save(env, project, registry, providers, monkeypatch):
    record = record_run(registry, project / "data.jsonl", "openai", monkeypatch)
    providers.state.outcome = "hang"
    # Let the first worker create the job, then forget the job id as if it crashed before saving it.
    worker = Worker(registry.folder(record.id))
    backend = openai_backend.BACKEND
    backend.stop_event = worker.stop
    backend.start(launch_request(registry, record.id), worker.record, registry)
    job_id = worker.record.remote["job_id"]
    registry.update(record.id, remote={**worker.record.remote, "job_id": None}, status="validating")
    providers.state.jobs[job_id].outcome = "succeeded"
    _, done = follow(registry, registry.get(record.id))
    assert done.status == "succeeded" and done.remote["job_id"] == job_id
    assert len(providers.state.jobs) == 1


def launch_request(registry: RunRegistry, run_id: str) -> TrainRequest:
    from tuneline.training.worker import load_request

    return load_request(registry.folder(run_id))


def test_keys_only_travel_in_the_authorization_header(env, project, registry, providers, monkeypatch, caplog):
    caplog.set_level("DEBUG")
    for backend in ("openai", "together"):
        record = record_run(registry, project / "data.jsonl", backend, monkeypatch)
        follow(registry, record)
    auth = {r["auth"] for r in providers.state.requests if r["auth"]}
    assert auth == {f"Bearer {OPENAI_KEY}", f"Bearer {TOGETHER_KEY}"}, "the SDKs really sent the keys"
    text = run_files_text(registry.root)
    assert OPENAI_KEY not in text and TOGETHER_KEY not in text
    assert OPENAI_KEY not in caplog.text and TOGETHER_KEY not in caplog.text
