"""Every sentence a hosted backend makes of a provider's error, word for word: the real SDK calls the fake provider
(tests/training/fake_providers.py), the provider answers with the injected error, and `HostedBackend.call` (with
retries off) turns the SDK's exception into the one sentence the user sees in `tuneline runs show`, the editor's
runs view and the stalled/failed notice. A wording change here is a change users see: make it on purpose."""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import pytest

from tuneline.training.backends.base import BackendError, TrainRequest
from tuneline.training.runs import RunRecord, RunRegistry

RUN = "20991231-235959-sentences-c0ffee"
MODEL = "gpt-4o-mini-2024-07-18"
NEXT = {  # what each backend's own sentences advise, as the registry and the backend spell it
    "openai-key": "create a new one at https://platform.openai.com/api-keys and set it",
    "other-openai": "--backend together|fireworks|azure|local (hosted LoRA on open models, Azure's own OpenAI models, "
    "or QLoRA on your own GPU)",
    "other-lora": "(hosted LoRA elsewhere, or QLoRA on your own GPU)",
}

# (case, the exception the provider's answer raises, what tuneline was doing)
CASES = {
    "auth": (401, {"message": "Incorrect API key provided"}, "checking the job"),
    "permission": (403, {"message": "injected 403"}, "checking the job"),
    "rate-limit": (429, {"message": "Rate limit reached"}, "checking the job"),
    "unreachable": (None, None, "checking the job"),
    "not-tunable": (
        400,
        {"message": "Model x is not available for fine-tuning", "code": "model_not_available", "param": "model"},
        "creating the job",
    ),
    "not-found": (404, {"message": "Resource not found"}, "checking the job"),
    "file": (400, {"message": "Invalid file format. Line 2 is not a dictionary."}, "uploading the training file"),
    "bad-request": (400, {"message": "n_epochs must be at most 50"}, "creating the job"),
    "server": (503, {"message": "overloaded"}, "checking the job"),
    "not-ours": (ValueError("the settings are out of range"), None, "creating the job"),
}

EXPECTED: dict[str, dict[str, str]] = {
    "openai": {
        "auth": "OpenAI rejected the API key in OPENAI_API_KEY (invalid, revoked or for another organisation); "
        + NEXT["openai-key"],
        "permission": "OpenAI denied permission while checking the job (injected 403); check the key's project "
        "permissions, or train with " + NEXT["other-openai"],
        "rate-limit": "OpenAI kept rate-limiting tuneline while checking the job; wait a few minutes, then run "
        f"`tuneline runs resume {RUN}`",
        "unreachable": "cannot reach OpenAI while checking the job (network down or blocked); check the connection, "
        f"then run `tuneline runs resume {RUN}`",
        "not-tunable": f"OpenAI cannot fine-tune {MODEL} (Model x is not available for fine-tuning); it is not "
        "fine-tunable, not enabled for this account or shut down: pick another with --model (`tuneline models` "
        "lists them)",
        "not-found": "OpenAI answered 404 while checking the job: Resource not found; try again later "
        f"(`tuneline runs resume {RUN}`)",
        "file": "OpenAI rejected the file: Invalid file format. Line 2 is not a dictionary (see {data}:2)",
        "bad-request": "OpenAI refused the request while creating the job: n_epochs must be at most 50",
        "server": f"OpenAI answered 503 while checking the job: overloaded; try again later (`tuneline runs resume "
        f"{RUN}`)",
        "not-ours": "unexpected ValueError while creating the job: the settings are out of range",
    },
    "azure": {
        "auth": "Azure OpenAI rejected the key in AZURE_OPENAI_API_KEY for {endpoint} (wrong key, or a key of another "
        "resource); copy it again from your resource's 'Keys and Endpoint' page in the Azure portal",
        "permission": "Azure OpenAI denied permission while checking the job (injected 403); fine-tuning needs the "
        "Cognitive Services OpenAI Contributor role on the resource, or train with --backend together|fireworks|local",
        "rate-limit": "Azure OpenAI kept rate-limiting tuneline while checking the job; wait a few minutes, then run "
        f"`tuneline runs resume {RUN}`",
        "unreachable": "cannot reach Azure OpenAI while checking the job (network down or blocked); check the "
        f"connection, then run `tuneline runs resume {RUN}`",
        "not-tunable": f"Azure OpenAI cannot fine-tune {MODEL} (Model x is not available for fine-tuning); it is not "
        "fine-tunable, not enabled for this account or shut down: pick another with --model (`tuneline models` "
        "lists them)",
        "not-found": "Azure OpenAI answered 'not found' at {endpoint} while checking the job (Resource not found): "
        "check AZURE_OPENAI_ENDPOINT (https://NAME.openai.azure.com) and that fine-tuning is offered in the "
        "resource's region",
        "file": "Azure OpenAI rejected the file: Invalid file format. Line 2 is not a dictionary (see {data}:2)",
        "bad-request": "Azure OpenAI refused the request while creating the job: n_epochs must be at most 50",
        "server": "Azure OpenAI answered 503 while checking the job: overloaded; try again later (`tuneline runs "
        f"resume {RUN}`)",
        "not-ours": "unexpected ValueError while creating the job: the settings are out of range",
    },
    "openai-compatible": {
        "auth": "the endpoint at {base_url} rejected the API key in TUNELINE_API_KEY; check the key (or name the "
        "right variable with --api-key-env NAME)",
        "permission": "the endpoint at {base_url} denied permission while checking the job (injected 403); check that "
        "the key may fine-tune there, or train with --backend together|fireworks|local",
        "rate-limit": "the OpenAI-compatible endpoint kept rate-limiting tuneline while checking the job; wait a few "
        f"minutes, then run `tuneline runs resume {RUN}`",
        "unreachable": "cannot reach the OpenAI-compatible endpoint while checking the job (network down or "
        f"blocked); check the connection, then run `tuneline runs resume {RUN}`",
        "not-tunable": f"the OpenAI-compatible endpoint cannot fine-tune {MODEL} (Model x is not available for "
        "fine-tuning); it is not fine-tunable, not enabled for this account or shut down: pick another with "
        "--model (`tuneline models` lists them)",
        "not-found": "the endpoint at {base_url} has no OpenAI fine-tuning API (Resource not found) while checking "
        "the job: check --base-url (it usually ends in /v1)",
        "file": "the OpenAI-compatible endpoint rejected the file: Invalid file format. Line 2 is not a dictionary "
        "(see {data}:2)",
        "bad-request": "the OpenAI-compatible endpoint refused the request while creating the job: n_epochs must be "
        "at most 50",
        "server": "the OpenAI-compatible endpoint answered 503 while checking the job: overloaded; try again later "
        f"(`tuneline runs resume {RUN}`)",
        "not-ours": "unexpected ValueError while creating the job: the settings are out of range",
    },
    "together": {
        "auth": "Together AI rejected the API key in TOGETHER_API_KEY (or the account is out of credit); check the key "
        "and billing at https://api.together.ai/settings",
        "permission": "Together AI denied permission while checking the job (injected 403); check the key's project, "
        "or train with --backend fireworks|local " + NEXT["other-lora"],
        "rate-limit": "Together AI kept rate-limiting tuneline while checking the job; wait a few minutes, then run "
        f"`tuneline runs resume {RUN}`",
        "unreachable": "cannot reach Together AI while checking the job (network down or blocked); check the "
        f"connection, then run `tuneline runs resume {RUN}`",
        "not-tunable": f"Together AI cannot fine-tune {MODEL} (Model x is not available for fine-tuning); pick a model "
        "from Together's fine-tuning list with --model",
        "not-found": "Together AI answered 404 while checking the job: Resource not found",
        "file": "Together AI answered 400 while uploading the training file: Invalid file format. Line 2 is not a "
        "dictionary (see {data}:2)",
        "bad-request": "Together AI answered 400 while creating the job: n_epochs must be at most 50",
        "server": "Together AI answered 503 while checking the job: overloaded",
        "not-ours": "Together AI's SDK refused the job settings: the settings are out of range",
    },
    "fireworks": {
        "auth": "Fireworks AI rejected the API key in FIREWORKS_API_KEY (invalid or revoked); create one at "
        "https://app.fireworks.ai/settings/users/api-keys and set it",
        "permission": "Fireworks AI denied permission while checking the job (injected 403); check that the key "
        "belongs to the account in FIREWORKS_ACCOUNT_ID, or train with --backend together|local " + NEXT["other-lora"],
        "rate-limit": "Fireworks AI kept rate-limiting tuneline while checking the job (or the account reached its "
        f"spend limit); wait a few minutes, then run `tuneline runs resume {RUN}`",
        "unreachable": "cannot reach Fireworks AI while checking the job (network down or blocked); check the "
        f"connection, then run `tuneline runs resume {RUN}`",
        "not-tunable": f"Fireworks AI cannot fine-tune {MODEL} (Model x is not available for fine-tuning); pick a "
        "tunable model from https://fireworks.ai/models with --model",
        "not-found": "Fireworks AI answered 404 while checking the job: Resource not found",
        "file": "Fireworks AI rejected the file: Invalid file format. Line 2 is not a dictionary (see {data}:2)",
        "bad-request": "Fireworks AI answered 400 while creating the job: n_epochs must be at most 50",
        "server": "Fireworks AI answered 503 while checking the job: overloaded",
        "not-ours": "Fireworks AI's upload helper refused the file: the settings are out of range",
    },
}
RETRYABLE = {"rate-limit", "unreachable", "server"}


def bound_backend(backend: str, project: Path, providers) -> Any:
    """The backend's module-level BACKEND bound to a run of its own, as the worker binds it."""
    options: dict[str, Any] = {
        "azure": {"endpoint": providers.azure_endpoint, "api_version": "v1"},
        "openai-compatible": {"base_url": providers.compat_url},
        "fireworks": {"account_id": "tuneline-test"},
    }.get(backend, {})
    registry = RunRegistry(project / ".tuneline" / "runs")
    record = RunRecord(id=RUN, backend=backend, model=MODEL, dataset={"path": str(project / "data.jsonl")})
    registry.create(record)
    module = importlib.import_module(f"tuneline.training.backends.{backend.replace('-', '_')}_backend")
    instance = module.BACKEND
    instance.bind(record, registry, TrainRequest(dataset=project / "data.jsonl", options=options))
    return instance


def list_call(backend: str, client: Any) -> tuple[str, Any]:
    """(the path the call asks for, a call that lists something): the request an injected error answers."""
    if backend == "together":
        return r"/together/v1/fine-tunes$", client.fine_tuning.list
    if backend == "fireworks":
        return r"/fireworks/v1/accounts$", client.accounts.list
    return r"/fine_tuning/jobs$", client.fine_tuning.jobs.list


@pytest.mark.parametrize("backend", list(EXPECTED))
def test_each_provider_error_is_the_same_sentence(backend, env, project, providers, monkeypatch):
    monkeypatch.setenv("TUNELINE_RETRY_ATTEMPTS", "1")  # the sentence for what outlasted the retries, at once
    hosted = bound_backend(backend, project, providers)
    client = hosted.client()
    pattern, call = list_call(backend, client)
    names = {"data": project / "data.jsonl", "endpoint": providers.azure_endpoint, "base_url": providers.compat_url}
    seen = {}
    for case, (status, error, doing) in CASES.items():
        fn = call
        if isinstance(status, Exception):

            def fn(exc=status):
                raise exc

        elif status is None:
            providers.state.inject(pattern, drop=True, times=1)
        else:
            body = {"code": 3, **error} if backend == "fireworks" else {"error": error}
            providers.state.inject(pattern, status=status, body=body, times=1)
        with pytest.raises(BackendError) as raised:
            hosted.call(doing, fn)
        seen[case] = (str(raised.value), raised.value.retryable)
    want = {case: (text.format(**names), case in RETRYABLE) for case, text in EXPECTED[backend].items()}
    assert seen == want


def test_openai_quota_and_self_serve_sentences(env, project, providers, monkeypatch):
    """OpenAI's own: an exhausted quota is not a rate limit to wait out, and a 403 on creating a job means its
    self-serve fine-tuning is closed to the organisation."""
    from .fake_providers import SELF_SERVE_MESSAGE

    monkeypatch.setenv("TUNELINE_RETRY_ATTEMPTS", "1")
    hosted = bound_backend("openai", project, providers)
    call = hosted.client().fine_tuning.jobs.list
    quota = {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}
    providers.state.inject(r"/fine_tuning/jobs$", status=429, body=quota, times=1)
    with pytest.raises(BackendError) as raised:
        hosted.call("checking the job", call)
    assert str(raised.value) == (
        "OpenAI says this account has no quota left (You exceeded your current quota); add credit, then retry"
    )
    assert not raised.value.retryable
    closed = {"error": {"message": SELF_SERVE_MESSAGE}}
    providers.state.inject(r"/fine_tuning/jobs$", status=403, body=closed, times=1)
    with pytest.raises(BackendError) as raised:
        hosted.call("creating the job", call)
    assert str(raised.value) == (
        f"OpenAI has closed self-serve fine-tuning to this organisation, so it cannot create jobs (OpenAI said: "
        f"{SELF_SERVE_MESSAGE}); train with {NEXT['other-openai']}"
    )


SHUT = "gpt-4.1-nano-2025-04-14"
TOGETHERS = "Qwen/Qwen2.5-7B-Instruct"
MODEL_SENTENCES = {  # backend: (model of another provider, refusal; shut-down refusal; unknown model, its warning)
    "openai": (
        TOGETHERS,
        f"{TOGETHERS} is a together model; use --backend together or pick a openai model",
        f"{SHUT} was shut down on 2026-10-23 and cannot be fine-tuned; choose another model (`tuneline models` lists "
        "them)",
        "gpt-5-imaginary",
        "gpt-5-imaginary is not in tuneline's model table: token limit and price are guesses, and OpenAI will say "
        "whether it can be fine-tuned",
    ),
    "azure": (
        TOGETHERS,
        f"{TOGETHERS} is a together model; use --backend together or pick an Azure one",
        f"{SHUT} was shut down on 2026-10-23 and cannot be fine-tuned; choose another model (`tuneline models` lists "
        "them)",
        "gpt-5-imaginary",
        "gpt-5-imaginary is not in tuneline's model table: token limit and price are guesses, and Azure will say "
        "whether it can be fine-tuned in your resource's region",
    ),
    "together": (
        MODEL,
        f"{MODEL} is a openai model; use --backend openai or pick a together model",
        None,
        "acme/NotAModel-1B",
        "acme/NotAModel-1B is not in tuneline's model table: token limit and price are guesses, and Together AI will "
        "say whether it can be fine-tuned",
    ),
}


@pytest.mark.parametrize("backend", list(MODEL_SENTENCES))
def test_the_plan_says_the_same_about_models(backend, env, project):
    """What pre-flight (`tuneline train`, the editor's `tuneline.preflight`) says about the model, before any
    request: another provider's model and a shut-down one are refused, an unknown one is a warning."""
    from tuneline.training.preflight import run_preflight

    other, refusal, shut, unknown, warning = MODEL_SENTENCES[backend]
    data = project / "data.jsonl"
    assert run_preflight(TrainRequest(dataset=data, model=other), backend).refused == refusal
    if shut is not None:
        assert run_preflight(TrainRequest(dataset=data, model=SHUT), backend).refused == shut
    pf = run_preflight(TrainRequest(dataset=data, model=unknown), backend)
    assert pf.ok and warning in pf.plan.warnings


@pytest.mark.parametrize("backend", ["openai", "together"])
def test_an_answer_about_the_validation_file_points_at_it(backend, env, project, providers, monkeypatch):
    """A line number the provider gives while the validation file uploads is that file's line, not the training
    file's (Together's used to be quoted against the training file)."""
    monkeypatch.setenv("TUNELINE_RETRY_ATTEMPTS", "1")
    hosted = bound_backend(backend, project, providers)
    validation = project / "valid.jsonl"
    hosted._record.validation = {"path": str(validation)}
    client = hosted.client()
    pattern, call = list_call(backend, client)
    providers.state.inject(pattern, status=400, body={"error": CASES["file"][1]}, times=1)
    with pytest.raises(BackendError) as raised:
        hosted.call("uploading the validation file", call)
    assert f"(see {validation}:2)" in str(raised.value)
