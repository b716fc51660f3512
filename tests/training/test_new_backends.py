"""Fireworks, Azure OpenAI and OpenAI-compatible backends through their real SDKs (`fireworks-ai`, `openai`'s
AzureOpenAI, `openai` with another base URL) against the fake providers on 127.0.0.1. The worker runs in this
process, as in test_hosted_backends.py; test_new_backends_cli.py drives the same through the CLI.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from tuneline.training import provenance
from tuneline.training.backends.base import TrainRequest
from tuneline.training.preflight import run_preflight
from tuneline.training.runs import RunRecord, RunRegistry
from tuneline.training.worker import Worker

from .conftest import events, follow, record_run, run_files_text, write_lines
from .fake_providers import AZURE_KEY, COMPAT_KEY, FIREWORKS_KEY

BACKENDS = ("fireworks", "azure", "openai-compatible")


def options_for(backend: str, providers) -> dict:
    if backend == "openai-compatible":
        return {"base_url": providers.compat_url}
    return {}


def model_for(backend: str) -> str | None:
    return "gpt-4o-mini-2024-07-18" if backend == "openai-compatible" else None


def start(registry: RunRegistry, dataset: Path, backend: str, monkeypatch, providers, **kw) -> RunRecord:
    options = {**options_for(backend, providers), **kw.pop("options", {})}
    kw.setdefault("model", model_for(backend))
    return record_run(registry, dataset, backend, monkeypatch, options=options, **kw)


@pytest.mark.parametrize("backend", BACKENDS)
def test_happy_path_with_split(backend, env, project, registry, providers, monkeypatch):
    record = start(
        registry, project / "data.jsonl", backend, monkeypatch, providers, split=0.2, seed=7, suffix="nimbus"
    )
    rc, done = follow(registry, record)
    assert rc == 0, done.error
    assert done.status == "succeeded" and done.error is None
    assert done.result_model
    metrics = list(registry.read(record.id, "metrics"))
    assert metrics and all(m["loss"] > 0 for m in metrics), "the loss chart has data"
    assert done.remote["training_file_id"] and done.remote["validation_file_id"]
    job = providers.state.jobs[done.remote["job_id"]]
    if backend == "fireworks":
        assert done.result_model == f"accounts/tuneline-test/models/nimbus-{done.remote['job_id'][-6:]}"
        assert job.request["epochs"] == done.hyperparameters["n_epochs"] == 1, "Fireworks' default, sent explicitly"
        assert job.request["evaluationDataset"] == done.remote["validation_file_id"]
        assert done.extra["provider_estimate_usd"] == 0.42, "Fireworks' own estimate is recorded"
        assert done.extra["account_id"] == "tuneline-test", "the only account the key reaches"
        assert any("deploy it" in e["message"] for e in events(registry, record.id))
    else:
        assert job.request["metadata"] == {"created_by": "tuneline", "tuneline_run": record.id}
        assert job.request["suffix"] == "nimbus" and job.request["seed"] == 7
    if backend == "azure":
        assert done.result_model.startswith("ft:gpt-4o-mini-2024-07-18")
        azure = [r for r in providers.state.requests if r["path"].startswith("/azure/")]
        assert azure and all(r["path"].startswith("/azure/openai/v1/") for r in azure), "the v1 API by default"
        assert {r["query"].get("api-version") for r in azure} == {"v1"}
        assert {r["api_key"] for r in azure} == {AZURE_KEY} and not any(r["auth"] for r in azure)
        assert metrics[0]["remote_id"] == "results:1", "metrics from results.csv"
        assert any("not deployed yet" in e["message"] for e in events(registry, record.id))
        assert done.cost_estimate_usd is None, "OpenAI's price is not Azure's"
    if backend == "openai-compatible":
        compat = [r for r in providers.state.requests if r["path"].startswith("/compat/")]
        assert compat and {r["auth"] for r in compat} == {f"Bearer {COMPAT_KEY}"}
        assert not any(r["path"].startswith("/openai/") for r in providers.state.requests)


def test_azure_dated_api_version_uses_the_older_routes(env, project, registry, providers, monkeypatch):
    record = start(
        registry, project / "data.jsonl", "azure", monkeypatch, providers, options={"api_version": "2025-04-01-preview"}
    )
    rc, done = follow(registry, record)
    assert rc == 0 and done.status == "succeeded", done.error
    azure = [r for r in providers.state.requests if r["path"].startswith("/azure/")]
    assert azure and not any(r["path"].startswith("/azure/openai/v1/") for r in azure)
    assert {r["query"].get("api-version") for r in azure} == {"2025-04-01-preview"}


@pytest.mark.parametrize("backend", BACKENDS)
def test_invalid_key_is_one_sentence_and_never_written(backend, env, project, registry, providers, monkeypatch):
    var = {"fireworks": "FIREWORKS_API_KEY", "azure": "AZURE_OPENAI_API_KEY", "openai-compatible": "TUNELINE_API_KEY"}[
        backend
    ]
    wrong = "0123456789abcdefWRONGwrong0123456789"
    monkeypatch.setenv(var, wrong)
    record = start(registry, project / "data.jsonl", backend, monkeypatch, providers)
    rc, done = follow(registry, record)
    assert rc == 1 and done.status == "failed"
    assert var in done.error and "rejected the" in done.error and "\n" not in done.error
    assert wrong not in run_files_text(registry.folder(record.id))


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("status", [403, 429, 500])
def test_provider_errors_on_job_creation(backend, status, env, project, registry, providers, monkeypatch):
    pattern = {
        "fireworks": r"/(supervisedFineTuningJobs)$",
        "azure": r"/fine_tuning/jobs$",
        "openai-compatible": r"/fine_tuning/jobs$",
    }[backend]
    body = (
        {"code": 7, "message": f"injected {status}"}
        if backend == "fireworks"
        else {"error": {"message": f"injected {status}"}}
    )
    headers = {"Retry-After": "0.2"} if status == 429 else {}
    providers.state.inject(pattern, method="POST", status=status, times=1, headers=headers, body=body)
    record = start(registry, project / "data.jsonl", backend, monkeypatch, providers)
    began = time.monotonic()
    rc, done = follow(registry, record)
    if status == 403:
        assert rc == 1 and done.status == "failed" and "denied permission" in done.error
        return
    assert rc == 0 and done.status == "succeeded", done.error  # retried, then it worked
    waits = [e for e in events(registry, record.id) if e.get("retry_in") is not None]
    assert len(waits) == 1
    if status == 429:
        assert waits[0]["retry_in"] == 0.2 and "Retry-After" in waits[0]["message"]
        assert time.monotonic() - began >= 0.2
    else:
        assert "server error" in waits[0]["message"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_rate_limit_that_lasts_leaves_the_run_resumable(backend, env, project, registry, providers, monkeypatch):
    pattern = r"/datasets$" if backend == "fireworks" else r"/files$"
    providers.state.inject(pattern, method="POST", status=429, times=10, headers={"Retry-After": "0.01"})
    record = start(registry, project / "data.jsonl", backend, monkeypatch, providers)
    rc, stalled = follow(registry, record)
    assert rc == 3 and "kept rate-limiting tuneline" in stalled.error
    assert f"tuneline runs resume {record.id}" in stalled.error
    providers.state.injections.clear()
    rc, done = follow(registry, record, "resume")
    assert rc == 0 and done.status == "succeeded", done.error


@pytest.mark.parametrize("backend", BACKENDS)
def test_job_failure_quotes_the_provider_with_the_local_line(backend, env, project, registry, providers, monkeypatch):
    providers.state.outcome = "failed"
    record = start(registry, project / "data.jsonl", backend, monkeypatch, providers)
    rc, done = follow(registry, record)
    assert rc == 1 and done.status == "failed"
    assert "job failed:" in done.error and f"{project / 'data.jsonl'}:3" in done.error


@pytest.mark.parametrize("backend", BACKENDS)
def test_file_rejected_by_the_provider_quotes_the_line(backend, env, project, registry, providers, monkeypatch):
    record = start(registry, project / "data.jsonl", backend, monkeypatch, providers)
    monkeypatch.setattr(provenance, "verify_data", lambda *a, **k: None)  # the provider as the last line of defence
    write_lines(project / "data.jsonl", [json.dumps({"messages": []}), "[1, 2]"])
    _, done = follow(registry, record)
    assert done.status == "failed" and "rejected the" in done.error and "file" in done.error
    assert f"{project / 'data.jsonl'}:2" in done.error


@pytest.mark.parametrize("backend", BACKENDS)
def test_cancel_stops_the_remote_job(backend, env, project, registry, providers, monkeypatch):
    providers.state.outcome = "hang"
    record = start(registry, project / "data.jsonl", backend, monkeypatch, providers)
    worker = Worker(registry.folder(record.id))
    import threading

    thread = threading.Thread(target=worker.run, args=("run",))
    thread.start()
    deadline = time.monotonic() + 20
    while registry.get(record.id).status != "running" and time.monotonic() < deadline:
        time.sleep(0.05)
    worker.stop.set()
    thread.join(20)
    done = registry.get(record.id)
    assert done.status == "cancelled"
    job = providers.state.jobs[done.remote["job_id"]]
    assert job.status in ("cancelled", "JOB_STATE_CANCELLED")


def test_lost_job_reply_finds_the_job_by_its_id(env, project, registry, providers, monkeypatch):
    providers.state.inject(r"/supervisedFineTuningJobs$", method="POST", drop_reply=True)
    record = start(registry, project / "data.jsonl", "fireworks", monkeypatch, providers)
    _, done = follow(registry, record)
    assert done.status == "succeeded" and len(providers.state.jobs) == 1


def test_compatible_endpoint_without_metadata_filter_finds_the_job(env, project, registry, providers, monkeypatch):
    providers.state.inject(r"/compat/v1/fine_tuning/jobs$", method="POST", drop_reply=True)
    record = start(registry, project / "data.jsonl", "openai-compatible", monkeypatch, providers)
    _, done = follow(registry, record)
    assert done.status == "succeeded" and len(providers.state.jobs) == 1


def test_keys_only_travel_to_their_provider_and_are_never_written(
    env, project, registry, providers, monkeypatch, caplog
):
    caplog.set_level("DEBUG")
    custom = "custom-secret-0123456789abcdefghijkl"
    providers.state.keys["compat"] = custom
    monkeypatch.setenv("MY_ENDPOINT_KEY", custom)
    monkeypatch.delenv("TUNELINE_API_KEY")
    for backend in BACKENDS:
        options = {"api_key_env": "MY_ENDPOINT_KEY"} if backend == "openai-compatible" else {}
        record = start(registry, project / "data.jsonl", backend, monkeypatch, providers, options=options)
        _, done = follow(registry, record)
        assert done.status == "succeeded", done.error
    text = run_files_text(registry.root)
    for key in (FIREWORKS_KEY, AZURE_KEY, custom):
        assert key not in text and key not in caplog.text
    fireworks = {r["auth"] for r in providers.state.requests if r["path"].startswith("/fireworks/v1")}
    assert fireworks == {f"Bearer {FIREWORKS_KEY}"}


def rft_lines(n: int) -> list[str]:
    return [
        json.dumps(
            {
                "messages": [
                    {"role": "developer", "content": "Answer with the number only."},
                    {"role": "user", "content": f"What is {i} plus {i}?"},
                ],
                "reference_answer": str(2 * i),
            }
        )
        for i in range(n)
    ]


GRADER = {
    "type": "string_check",
    "name": "exact answer",
    "input": "{{sample.output_text}}",
    "reference": "{{item.reference_answer}}",
    "operation": "eq",
}


def test_azure_rft_sends_the_checked_grader_with_the_job(env, project, registry, providers, monkeypatch):
    write_lines(project / "rft.jsonl", rft_lines(30))
    write_lines(project / "rft-valid.jsonl", rft_lines(40)[30:])
    (project / "grader.json").write_text(json.dumps(GRADER), encoding="utf-8")
    record = start(
        registry,
        project / "rft.jsonl",
        "azure",
        monkeypatch,
        providers,
        model="o4-mini-2025-04-16",
        validation=project / "rft-valid.jsonl",
        options={"grader": str(project / "grader.json")},
    )
    assert record.extra["method"] == "rft"
    request = json.loads((registry.folder(record.id) / "request.json").read_text())
    assert request["options"]["grader"] == GRADER, "the approved grader travels in request.json, not its path"
    rc, done = follow(registry, record)
    assert rc == 0 and done.status == "succeeded", done.error
    job = providers.state.jobs[done.remote["job_id"]]
    assert job.request["method"] == {
        "type": "reinforcement",
        "reinforcement": {"grader": GRADER, "hyperparameters": {"n_epochs": done.hyperparameters["n_epochs"]}},
    }


def test_azure_rft_file_without_grader_and_grader_on_sft_file_are_refused(env, project, providers):
    write_lines(project / "rft.jsonl", rft_lines(30))
    write_lines(project / "rft-valid.jsonl", rft_lines(40)[30:])
    request = TrainRequest(
        dataset=project / "rft.jsonl", model="o4-mini-2025-04-16", validation=project / "rft-valid.jsonl"
    )
    pf = run_preflight(request, "azure")
    assert not pf.ok and "needs a grader: pass --grader FILE" in pf.refused
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl", options={"grader": GRADER}), "azure")
    assert not pf.ok and "--grader is for reinforcement fine-tuning files" in pf.refused
    assert not providers.state.requests


@pytest.mark.parametrize("backend", ["fireworks", "azure"])
def test_preference_files_train_with_dpo(backend, env, project, registry, providers, monkeypatch):
    pair = {
        "input": {"messages": [{"role": "user", "content": "Say hello {}"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello {}!"}],
        "non_preferred_output": [{"role": "assistant", "content": "No. {}"}],
    }
    write_lines(project / "dpo.jsonl", [json.dumps(pair).replace("{}", str(i)) for i in range(20)])
    # Azure's DPO is for gpt-4o and gpt-4.1/-mini (providers.toml method_models), not its default gpt-4o-mini
    model = "gpt-4.1-mini-2025-04-14" if backend == "azure" else None
    record = start(registry, project / "dpo.jsonl", backend, monkeypatch, providers, model=model)
    assert record.extra["method"] == "dpo"
    rc, done = follow(registry, record)
    assert rc == 0 and done.status == "succeeded", done.error
    job = providers.state.jobs[done.remote["job_id"]]
    if backend == "fireworks":
        assert job.request["_kind"] == "dpoJobs"
        assert job.request["trainingConfig"]["baseModel"] == "accounts/fireworks/models/llama-v3p1-8b-instruct"
        assert list(registry.read(record.id, "metrics")), "DPO metrics come from getMetricsFileEndpoint"
    else:
        assert job.request["method"]["type"] == "dpo"
