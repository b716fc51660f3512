"""Pre-flight decisions, the validation split, the registry's atomic writes, redaction, and import weight."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tuneline.training.backends.base import TrainRequest
from tuneline.training.preflight import render_markdown, run_preflight
from tuneline.training.redact import redact
from tuneline.training.runs import RunRecord, RunRegistry
from tuneline.training.split import plan_split

from .conftest import chat_line, write_lines


def test_split_is_seeded_and_keeps_duplicates_on_one_side(project):
    lines = [chat_line(i) for i in range(40)] + [chat_line(3), chat_line(3), chat_line(7)]
    write_lines(project / "dups.jsonl", lines)
    a = run_preflight(TrainRequest(dataset=project / "dups.jsonl"), "openai", split=0.25, seed=1)
    b = run_preflight(TrainRequest(dataset=project / "dups.jsonl"), "openai", split=0.25, seed=1)
    c = run_preflight(TrainRequest(dataset=project / "dups.jsonl"), "openai", split=0.25, seed=2)
    assert a.split.validation_lines == b.split.validation_lines != c.split.validation_lines
    ds = a.analysis.report.dataset
    for pf in (a, c):
        train = {ds.text(i) for i in pf.split.train_lines}
        valid = {ds.text(i) for i in pf.split.validation_lines}
        assert not train & valid
        assert len(pf.split.train_lines) + len(pf.split.validation_lines) == 43
        assert abs(len(pf.split.validation_lines) - 11) <= 2
    assert a.plan.examples == len(a.split.train_lines), "the cost is for the training part only"


def test_split_plan_defaults(project):
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl"), "openai")
    plan = plan_split(pf.analysis.report.dataset)
    assert (plan.fraction, plan.seed, len(plan.validation_lines)) == (0.1, 42, 3)


def test_validation_overlap_is_an_error_with_its_line(project):
    write_lines(project / "valid.jsonl", [chat_line(100), chat_line(5)])
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl", validation=project / "valid.jsonl"), "openai")
    assert not pf.ok
    assert [(p.code, p.line, p.file.endswith("valid.jsonl")) for p in pf.errors] == [("TL306", 1, True)]
    assert "line 6 of the training file" in pf.errors[0].message


def test_method_follows_the_format(project):
    dpo = {
        "input": {"messages": [{"role": "user", "content": "Hi {}"}]},
        "preferred_output": [{"role": "assistant", "content": "Hello! {}"}],
        "non_preferred_output": [{"role": "assistant", "content": "What. {}"}],
    }
    write_lines(project / "dpo.jsonl", [json.dumps(dpo).replace("{}", str(i)) for i in range(20)])
    pf = run_preflight(TrainRequest(dataset=project / "dpo.jsonl", model="gpt-4.1-mini-2025-04-14"), "openai")
    assert pf.ok and pf.plan.method == "dpo"
    # OpenAI's DPO is for the gpt-4.1 family: on the default gpt-4o-mini the pre-flight refuses, saying so
    pf = run_preflight(TrainRequest(dataset=project / "dpo.jsonl"), "openai")
    assert not pf.ok and [p.code for p in pf.errors] == ["TL123"]
    assert "fine-tunes gpt-4o-mini-2024-07-18 with supervised fine-tuning (sft) only" in pf.errors[0].message
    alpaca = [json.dumps({"instruction": f"Say {i}", "input": "", "output": f"{i}"}) for i in range(20)]
    write_lines(project / "alpaca.jsonl", alpaca)
    pf = run_preflight(TrainRequest(dataset=project / "alpaca.jsonl"), "openai")
    assert not pf.ok and "convert it to chat format" in pf.refused
    pc = [json.dumps({"prompt": f"Say {i}", "completion": f"{i}"}) for i in range(20)]
    write_lines(project / "pc.jsonl", pc)
    assert run_preflight(TrainRequest(dataset=project / "pc.jsonl"), "together").plan.method == "sft"


def test_models_of_another_provider_or_shut_down_are_refused(project):
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl", model="Qwen/Qwen2.5-7B-Instruct"), "openai")
    assert "is a together model" in pf.refused
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl", model="gpt-4.1-nano-2025-04-14"), "openai")
    assert "was shut down on 2026-10-23" in pf.refused


def test_markdown_has_the_numbers_the_user_confirms(project):
    pf = run_preflight(TrainRequest(dataset=project / "data.jsonl"), "openai")
    md = render_markdown(pf)
    assert "| Estimated cost | $" in md and "| Epochs | 3 |" in md and "**Ready to train.**" in md
    data = pf.to_json()
    assert data["ok"] and data["examples"] == 30 and data["costUsd"] == pf.plan.cost_usd > 0


def test_run_json_is_replaced_atomically(tmp_path, monkeypatch):
    registry = RunRegistry(tmp_path / "runs")
    record = registry.create(RunRecord(id="r1", backend="openai", model="m"))

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    record.status = "running"
    with pytest.raises(OSError):
        registry.save(record)
    monkeypatch.undo()
    assert registry.get("r1").status == "created", "the old run.json is intact"
    assert [p.name for p in registry.folder("r1").iterdir()] == ["run.json"], "no temp file is left behind"


def test_registry_redacts_anything_shaped_like_a_key(tmp_path, monkeypatch):
    monkeypatch.setenv("TOGETHER_API_KEY", "plain-looking-secret-value-123")
    registry = RunRegistry(tmp_path / "runs")
    record = registry.create(RunRecord(id="r1", backend="together", model="m"))
    record.error = "failed with plain-looking-secret-value-123 and sk-proj-abcdefghijklmnopqrstuvwx1234"
    registry.save(record)
    registry.append("r1", "events", {"message": "Bearer abcdefghijklmnop"})
    text = (registry.folder("r1") / "run.json").read_text() + (registry.folder("r1") / "events.jsonl").read_text()
    assert "plain-looking" not in text and "sk-proj" not in text and "abcdefghijklmnop" not in text
    assert text.count("[redacted]") == 3
    assert redact("/home/user/task-notes/desk-file.jsonl") == "/home/user/task-notes/desk-file.jsonl"


def test_light_modules_import_no_sdk_and_no_torch():
    code = (
        "import sys, tuneline.training.launch, tuneline.training.preflight, tuneline.training.commands, "
        "tuneline.training.backends.openai_backend, tuneline.training.backends.together_backend, "
        "tuneline.training.backends.fireworks_backend, tuneline.training.backends.azure_backend, "
        "tuneline.training.backends.openai_compatible_backend, tuneline.lsp.features.train; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('openai', 'together', 'fireworks', 'torch')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_editor_lists_the_same_backends_and_key_variables():
    """client-vscode mirrors training/backends/registry.py: its QuickPick names every backend, and the key (and
    endpoint) variables it fills from SecretStorage are the ones the backends read."""
    import re
    from pathlib import Path

    from tuneline.training.backends.registry import BACKENDS, NAMES

    client = Path(__file__).resolve().parents[2] / "client-vscode" / "src" / "pure"
    settings = (client / "settings.ts").read_text(encoding="utf-8")
    listed = re.search(r"export const BACKENDS: readonly Backend\[\] = \[([^\]]*)\]", settings)
    assert listed is not None
    assert tuple(re.findall(r'"([^"]+)"', listed.group(1))) == NAMES
    spawn = (client / "spawn.ts").read_text(encoding="utf-8")
    keys = dict(re.findall(r'"?([\w-]+)"?: "([A-Z_]+_(?:KEY|API_KEY))"', spawn.split("PROVIDER_ENDPOINT_VARS")[0]))
    assert keys == {name: info.key_env for name, info in BACKENDS.items() if info.key_env}
    endpoints = dict(
        re.findall(r'"?([\w-]+)"?: "([A-Z_]+)"', spawn.split("export const PROVIDER_ENDPOINT_VARS")[1].split(";")[0])
    )
    assert endpoints == {name: info.settings[0].env for name, info in BACKENDS.items() if info.settings}
