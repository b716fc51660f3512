"""The editor's evaluation commands through the real `tuneline serve` process (pytest-lsp): `tuneline.evaluate`
asks with the cost in the question, runs the evaluation in its own process against the chat-completions fake
(real OpenAI SDK), reports progress and returns the summary and the HTML report; `tuneline.evalReport` reads back
the newest stored evaluation; runs not started here are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import plant_run, snapshot
from .fake_chat import OPENAI_KEY, TUNED, FakeChat
from .lsp_client import command, serve


@pytest.fixture
async def lsp(chat, project):
    client = await serve(project, answer="Evaluate")
    yield client
    await client.shutdown_session()


async def test_evaluate_a_run_from_the_editor(lsp, project: Path, run: Path, chat: FakeChat):
    plan = await command(lsp, "tuneline.evaluate", {"runId": run.name, "dryRun": True})
    assert plan["ok"] and plan["plan"]["examples"] == 8 and plan["plan"]["costText"].startswith("$")
    assert plan["plan"]["estimate"]["requests"] == 16 and chat.state.requests == []

    lsp.answer = "Cancel"
    assert await command(lsp, "tuneline.evaluate", {"runId": run.name}) is None
    assert "estimated cost $" in lsp.questions[0] and chat.state.requests == []
    assert not (run / "eval").exists()

    lsp.answer = "Evaluate"
    result = await command(lsp, "tuneline.evaluate", {"runId": "last", "limit": 6})
    assert result["ok"], result
    summary = result["summary"]
    assert summary["run"] == run.name and summary["examples"] == 6 and summary["complete"]
    assert summary["metrics"]["tuned"]["exact_match"] == pytest.approx(5 / 6, abs=1e-4)
    assert summary["metrics"]["base"]["exact_match"] == pytest.approx(2 / 6, abs=1e-4)
    assert "<table class='metrics'>" in result["html"] and "only-worse" in result["html"]
    assert any("worse than the base model on 1 of 6 examples" in m.message for m in lsp.messages)
    reports = [v for values in lsp.progress_reports.values() for v in values]
    assert any("answers" in (getattr(v, "message", "") or "") for v in reports)
    folder = Path(result["folder"])
    assert folder.parent == run / "eval" and json.loads((folder / "status.json").read_text())["status"] == "done"
    assert OPENAI_KEY not in "".join(p.read_text() for p in folder.iterdir() if p.is_file())

    shown = await command(lsp, "tuneline.evalReport", {"runId": run.name})
    assert shown["ok"] and shown["eval"] == result["eval"] and len(shown["contract"]["items"]) == 6
    assert shown["contract"]["metrics"]["tuned"]["json_same_keys"] == 1.0  # tool calls are past --limit 6
    assert shown["contract"]["metrics"]["tuned"]["tool_call_match"] is None
    assert "<table class='metrics'>" in shown["html"]


async def test_runs_not_started_here_and_bad_arguments_are_refused(lsp, project: Path, chat: FakeChat):
    folder = plant_run(project, project / "data.jsonl", status="succeeded", result_model=TUNED)
    before = snapshot(folder)
    refused = await command(lsp, "tuneline.evaluate", {"runId": folder.name, "confirmed": True})
    assert refused["ok"] is False and "was not started here" in refused["refused"]
    assert any("was not started here" in m.message for m in lsp.messages)
    report = await command(lsp, "tuneline.evalReport", {"runId": folder.name})
    assert report["ok"] is False and "its evaluations are not shown" in report["refused"]
    assert snapshot(folder) == before and chat.state.requests == [] and lsp.questions == []

    for args, words in (
        ([], "expected [{runId"),
        ([{"runId": folder.name, "limit": "many"}], "limit must be a whole number"),
    ):
        bad = await command(lsp, "tuneline.evaluate", *args)
        assert bad["ok"] is False and words in bad["refused"]
