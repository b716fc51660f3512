"""The server's training commands, through the real `tuneline serve` process (pytest-lsp), a real worker process
and the real OpenAI SDK talking to the fake provider."""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest
from lsprotocol import types

from .conftest import chat_line, plant_run, run_files_text, snapshot, write_lines
from .fake_providers import OPENAI_KEY
from .lsp_client import command, serve


@pytest.fixture
async def lsp(env, project):
    client = await serve(project, answer="Start training")
    yield client
    await client.shutdown_session()


async def until(predicate, timeout: float = 30.0):
    for _ in range(int(timeout / 0.1)):
        value = predicate()
        if value:
            return value
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def test_preflight_refuses_a_broken_file_with_positions(lsp, project):
    bad = write_lines(project / "bad.jsonl", [chat_line(i) for i in range(12)] + ['{"messages": [}'])
    result = await command(lsp, "tuneline.preflight", {"uri": bad.as_uri(), "backend": "openai"})
    assert result["ok"] is False
    assert [(e["line"], e["code"]) for e in result["errors"]] == [(12, "TL001")]
    assert "bad.jsonl:13:" in result["markdown"] and "Refused" in result["markdown"]


async def test_train_from_the_editor_end_to_end(lsp, project, providers):
    uri = (project / "data.jsonl").as_uri()
    pre = await command(lsp, "tuneline.preflight", {"uri": uri, "backend": "openai", "split": 0.2})
    assert pre["ok"] and pre["examples"] == 24 and pre["costUsd"] > 0 and pre["validationExamples"] == 6

    started = await command(lsp, "tuneline.train", {"uri": uri, "backend": "openai", "epochs": 2})
    run_id = started["runId"]
    assert "Estimated cost: $" in lsp.questions[0] and "2 epochs" in lsp.questions[0]
    done = await until(lambda: any("succeeded" in m.message for m in lsp.messages))
    assert done
    runs = await command(lsp, "tuneline.runs")
    run = next(r for r in runs if r["id"] == run_id)
    assert run["status"] == "succeeded" and run["result_model"].startswith("ft:gpt-4o-mini-2024-07-18")
    assert run["hyperparameters"]["n_epochs"] == 2 and run["method"] == "sft" and run["source"] == "editor"
    reports = [v for values in lsp.progress_reports.values() for v in values]
    assert any(getattr(v, "message", "") and "step" in v.message for v in reports), "progress was reported"
    folder = project / ".tuneline" / "runs" / run_id
    assert OPENAI_KEY not in run_files_text(folder)
    assert all(OPENAI_KEY not in m.message for m in lsp.log_messages)


async def test_confirmed_train_skips_the_question_and_cancel_stops_the_job(lsp, project, providers):
    providers.state.outcome = "hang"
    uri = (project / "data.jsonl").as_uri()
    started = await command(lsp, "tuneline.train", {"uri": uri, "backend": "openai", "confirmed": True})
    run_id = started["runId"]
    assert lsp.questions == []
    await until(lambda: providers.state.jobs and next(iter(providers.state.jobs.values())).status == "running")
    result = await command(lsp, "tuneline.cancelRun", run_id)
    assert result == {"status": "cancelled"}
    assert next(iter(providers.state.jobs.values())).status == "cancelled"
    await until(lambda: any("cancelled" in m.message for m in lsp.messages))


async def test_unsaved_changes_and_unknown_backend_are_refused(lsp, project):
    path = project / "data.jsonl"
    text = path.read_text(encoding="utf-8")
    lsp.text_document_did_open(
        types.DidOpenTextDocumentParams(
            types.TextDocumentItem(uri=path.as_uri(), language_id="jsonl", version=1, text=text + chat_line(99) + "\n")
        )
    )
    result = await command(lsp, "tuneline.preflight", {"uri": path.as_uri(), "backend": "openai"})
    assert result["ok"] is False and "unsaved changes" in result["refused"]
    result = await command(lsp, "tuneline.preflight", {"uri": Path(path).as_uri(), "backend": "vertex"})
    assert "unknown backend" in result["refused"]


async def test_a_planted_run_is_listed_not_started_here_and_never_started(lsp, project, providers, tmp_path_factory):
    """What the extension does on every server start (`tuneline.runs`) must not restart a run a repository ships."""
    outside = write_lines(tmp_path_factory.mktemp("home") / "notes.jsonl", [chat_line(i) for i in range(30)])
    folder = plant_run(project, outside)
    before = snapshot(folder)
    runs = await command(lsp, "tuneline.runs", {"uri": project.as_uri()})
    assert [(r["id"], r["status"], r["startedHere"]) for r in runs] == [(folder.name, "validating", False)]
    assert "was not started here" in runs[0]["origin"]
    assert await command(lsp, "tuneline.resumeRun", folder.name) is None
    cancelled = await command(lsp, "tuneline.cancelRun", folder.name)
    assert cancelled["status"] is None and "was not started here" in cancelled["error"]
    await until(lambda: len([m for m in lsp.messages if "was not started here" in m.message]) == 2)
    await asyncio.sleep(0.5)
    assert providers.state.requests == [], "the provider heard nothing"
    assert snapshot(folder) == before, "no worker ran there (no worker.log, no lock)"


async def test_progress_stops_when_the_worker_dies(lsp, project, providers, registry):
    providers.state.outcome = "hang"
    uri = (project / "data.jsonl").as_uri()
    run_id = (await command(lsp, "tuneline.train", {"uri": uri, "backend": "openai", "confirmed": True}))["runId"]
    runs = await command(lsp, "tuneline.runs")
    assert [(r["id"], r["startedHere"], r["origin"]) for r in runs] == [(run_id, True, None)]
    await until(lambda: registry.get(run_id).status == "running" and registry.get(run_id).pid)
    os.killpg(registry.get(run_id).pid, signal.SIGKILL)
    await until(lambda: any(f"Training run {run_id} stalled" in m.message for m in lsp.messages))
    record = json.loads((registry.folder(run_id) / "run.json").read_text())
    assert record["status"] == "stalled" and f"tuneline runs resume {run_id}" in record["error"]
    ends = [v for values in lsp.progress_reports.values() for v in values if isinstance(v, types.WorkDoneProgressEnd)]
    assert ends, "the editor's progress ended"


async def test_the_editor_refuses_bad_training_options_with_the_clis_sentences(lsp, project):
    """One owner (TrainRequest.from_options, analysis/epochs.py): the same values are refused here and by
    `tuneline train`, with the same sentence, naming the option as the editor spells it."""
    uri = (project / "data.jsonl").as_uri()
    for options, sentence in (
        ({"epochs": 0}, "epochs must be a number from 1 to 50 or 'auto', not 0"),
        ({"epochs": 51}, "epochs must be a number from 1 to 50 or 'auto', not 51"),
        ({"epochs": True}, "epochs must be a number from 1 to 50 or 'auto', not True"),
        ({"epochs": 2.5}, "epochs must be a number from 1 to 50 or 'auto', not 2.5"),
        ({"batchSize": 0}, "batchSize must be a whole number of at least 1, not 0"),
        ({"learningRate": "fast"}, "learningRate must be a number above 0, not 'fast'"),
        ({"seed": "x"}, "seed must be a whole number, not 'x'"),
    ):
        result = await command(lsp, "tuneline.preflight", {"uri": uri, "backend": "openai", **options})
        assert result["ok"] is False and result["refused"] == sentence, (options, result)
    result = await command(lsp, "tuneline.preflight", {"uri": uri, "backend": "openai", "epochs": "auto"})
    assert result["ok"] is True


@pytest.mark.parametrize("backend", ["fireworks", "azure", "openai-compatible"])
async def test_the_new_backends_train_from_the_editor(backend, lsp, project, providers):
    """The editor's path for each new backend: its key and endpoint come from the server's environment (where the
    VS Code client puts what SecretStorage holds), the cost question names what is known, the run succeeds."""
    uri = (project / "data.jsonl").as_uri()
    args = {"uri": uri, "backend": backend}
    if backend == "openai-compatible":
        args["model"] = "gpt-4o-mini-2024-07-18"
        args["options"] = {"base_url": providers.compat_url}
    pre = await command(lsp, "tuneline.preflight", args)
    assert pre["ok"], pre["refused"]
    if backend == "fireworks":
        assert pre["costUsd"] > 0 and pre["epochs"] == 1
    else:
        assert pre["costUsd"] is None and "cost is unknown" in pre["markdown"]
    started = await command(lsp, "tuneline.train", {**args, "confirmed": True})
    run_id = started["runId"]
    await until(lambda: any(f"run {run_id} succeeded" in m.message for m in lsp.messages))
    runs = await command(lsp, "tuneline.runs")
    run = next(r for r in runs if r["id"] == run_id)
    assert run["backend"] == backend and run["startedHere"] is True and run["result_model"]
