"""`tuneline eval` on a local run: the tiny model is trained in the test (through `tuneline train`) on a task with
a fixed answer format, then base (adapter off) and tuned (adapter on) answer its held-out prompts in the
evaluation child; the tuned model's exact match beats the base model's. The trainer's own report at the end of
training is stored as an evaluation of the run too."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

from .conftest import ASKS, SYSTEM, TOPICS, write_jsonl
from .test_training import only_run, tuneline, write_config

torch = pytest.importorskip("torch")

ANSWER = json.dumps({"ok": True})  # every request is acknowledged the same way: a format a tiny model learns


def acknowledgements(n: int) -> list[dict]:
    rnd = random.Random(3)
    topics = list(TOPICS)
    return [
        {
            "messages": [
                {"role": "system", "content": SYSTEM},
                {"role": "user", "content": rnd.choice(ASKS).format(topics[i % len(topics)])},
                {"role": "assistant", "content": ANSWER},
            ]
        }
        for i in range(n)
    ]


def test_a_local_run_is_evaluated_base_against_tuned(tmp_path: Path, tiny_model: Path):
    (tmp_path / "tuneline.toml").write_text("", encoding="utf-8")
    data = write_jsonl(tmp_path / "tickets.jsonl", acknowledgements(48))
    config = write_config(
        tmp_path / "local.toml",
        max_steps=40, batch_size=4, gradient_accumulation=1, learning_rate=1e-2, warmup_ratio=0.0,
        save_steps=1000, eval_steps=1000, generations=1, max_new_tokens=16,
    )  # fmt: skip
    trained = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model), "--device", "cpu",
        "--config", str(config), cwd=tmp_path,
    )  # fmt: skip
    assert trained.returncode == 0, trained.stdout + trained.stderr
    run = only_run(tmp_path)

    # the trainer's report is an evaluation of the run: metrics next to the held-out loss
    (at_end,) = [p for p in (run / "eval").iterdir() if p.is_dir()]
    summary = json.loads((at_end / "summary.json").read_text())
    assert summary["examples"] == 1 and summary["complete"] and summary["backend"] == "local"
    assert summary["metrics"]["tuned"]["held_out_loss"] < summary["metrics"]["base"]["held_out_loss"]
    report = (run / "evaluation.md").read_text()
    assert "## Metrics on 1 held-out prompt(s)" in report and "| exact match | 1 |" in report

    refused = tuneline("eval", "last", "--base", "gpt-4o", cwd=tmp_path)
    assert refused.returncode == 2 and "leave out --base" in refused.stderr

    # a local evaluation costs nothing: no question, no --yes
    result = tuneline("eval", "last", "--format", "json", "--max-tokens", "16", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "(adapter switched off)" in result.stderr and "Estimated cost" not in result.stderr
    out = json.loads(result.stdout)
    assert out["backend"] == "local" and out["run"] == run.name and out["examples"] == 5  # the trainer's 10% split
    tuned, base = out["metrics"]["tuned"], out["metrics"]["base"]
    assert tuned["exact_match"] > base["exact_match"], (out["items"][0]["tuned"], out["items"][0]["base"])
    assert tuned["exact_match"] >= 0.6 and tuned["json_valid"] >= 0.6 and tuned["cost_usd"] is None
    assert all(i["reference"] == ANSWER for i in out["items"])
    assert tuned["mean_answer_tokens"] <= 16 and tuned["mean_prompt_tokens"] > 0
    folder = Path(out["folder"])
    assert folder.parent == run / "eval" and (folder / "local.log").exists()
    spec = json.loads((folder / "eval.json").read_text())
    assert spec["local"]["adapter"] == str(run / "adapter") and spec["seed"] == 42

    shown = tuneline("eval", "last", "--show", cwd=tmp_path)
    assert shown.returncode == 0 and "exact match" in shown.stdout and "(adapter switched off)" not in shown.stdout
