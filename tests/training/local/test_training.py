"""Real training runs on the tiny model, driven through `tuneline train` and `tuneline runs` as a user would:
SFT with loss going down and a reloadable adapter, cancel then resume, QLoRA (NF4) on CPU, and DPO."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import chat_lines, preference_lines, write_jsonl

torch = pytest.importorskip("torch")


def tuneline(*args: str, cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "tuneline", *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert "Traceback" not in result.stdout + result.stderr, result.stdout + result.stderr
    return result


def write_config(path: Path, **settings: object) -> Path:
    from tuneline.training.backends.local.run_config import dump_toml

    path.write_text(dump_toml(settings), encoding="utf-8")
    return path


def only_run(project: Path, nested: bool = True) -> Path:
    """The single run folder under `project/.tuneline/runs` (or directly under `project` when not nested)."""
    root = project / ".tuneline" / "runs" if nested else project
    runs = [p for p in root.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def wait_until(check, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def test_sft_run_through_the_cli(tmp_path: Path, tiny_model: Path):
    data = write_jsonl(tmp_path / "support.jsonl", chat_lines(48))
    config = write_config(
        tmp_path / "local.toml",
        max_steps=40,
        batch_size=4,
        gradient_accumulation=1,
        learning_rate=3e-3,
        warmup_ratio=0.0,
        save_steps=20,
        eval_steps=20,
        generations=2,
        max_new_tokens=12,
        merge=True,
    )
    result = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model), "--device", "cpu",
        "--config", str(config), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Ready to train" in result.stdout and "Done:" in result.stdout

    run = only_run(tmp_path)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "succeeded" and record["error"] is None
    assert record["result_model"] == str(run / "adapter")
    assert record["progress"]["step"] == record["progress"]["total_steps"] == 40
    assert record["hyperparameters"]["max_steps"] == 40 and record["hyperparameters"]["device"] == "cpu"

    metrics = read_jsonl(run / "metrics.jsonl")
    keys = {"time", "step", "loss", "eval_loss", "learning_rate", "epoch", "tokens_per_second", "gpu_memory_mb"}
    assert all(set(m) == keys for m in metrics)
    train = [m for m in metrics if m["loss"] is not None]
    assert [m["step"] for m in train] == list(range(1, 41))
    first, last = sum(m["loss"] for m in train[:5]) / 5, sum(m["loss"] for m in train[-5:]) / 5
    assert last < first - 0.3, (first, last)
    assert all(m["tokens_per_second"] and m["tokens_per_second"] > 0 for m in train[1:])
    evals = [m for m in metrics if m["eval_loss"] is not None]
    assert [m["step"] for m in evals] == [20, 40] and evals[1]["eval_loss"] < evals[0]["eval_loss"]

    state = json.loads((run / "trainer.json").read_text())
    info = state["model_info"]
    assert 0 < info["trainable"] < info["parameters"] and info["linear_4bit"] == 0
    assert state["evaluation"]["eval_loss"] < state["evaluation"]["base_eval_loss"]
    report = (run / "evaluation.md").read_text()
    assert "| tuned model |" in report and "| base model |" in report and "held-out loss" in report
    assert (run / "loss.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The adapter reloads onto the base model, changes its output, and equals the merged model.
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(run / "adapter")
    prompt = tokenizer.apply_chat_template(
        chat_lines(1)[0]["messages"][:2], add_generation_prompt=True, return_tensors="pt", return_dict=True
    )
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    with torch.no_grad():
        base_logits = base(**prompt).logits
    tuned = PeftModel.from_pretrained(base, run / "adapter").eval()
    merged = AutoModelForCausalLM.from_pretrained(run / "merged").eval()
    with torch.no_grad():
        tuned_logits = tuned(**prompt).logits
        merged_logits = merged(**prompt).logits
    assert not torch.allclose(base_logits, tuned_logits, atol=1e-3)
    assert torch.allclose(tuned_logits, merged_logits, atol=1e-4)
    out = tuned.generate(**prompt, max_new_tokens=8, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert out.shape[1] > prompt["input_ids"].shape[1]


def test_cancel_then_resume_continues_from_the_checkpoint(tmp_path: Path, tiny_model: Path):
    data = write_jsonl(tmp_path / "support.jsonl", chat_lines(48))
    config = write_config(
        tmp_path / "local.toml", max_steps=300, batch_size=2, gradient_accumulation=1, save_steps=1000, generations=0
    )
    started = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model), "--device", "cpu",
        "--config", str(config), "--detach", cwd=tmp_path,
    )  # fmt: skip
    assert started.returncode == 0, started.stdout + started.stderr
    run = only_run(tmp_path)
    wait_until(lambda: (run / "metrics.jsonl").exists() and len(read_jsonl(run / "metrics.jsonl")) >= 5, 120, "steps")

    cancelled = tuneline("runs", "cancel", run.name, cwd=tmp_path)
    assert cancelled.returncode == 0 and "cancelled" in cancelled.stdout, cancelled.stdout + cancelled.stderr
    state = json.loads((run / "trainer.json").read_text())
    stopped = state["step"]
    assert state["status"] == "cancelled" and 5 <= stopped < 300
    assert sorted(p.name for p in (run / "checkpoints").glob("checkpoint-*")) == [f"checkpoint-{stopped}"]
    assert json.loads((run / "run.json").read_text())["status"] == "cancelled"
    assert not (run / "adapter").exists()

    resumed = tuneline("runs", "resume", run.name, "--detach", cwd=tmp_path)
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    wait_until(lambda: json.loads((run / "run.json").read_text())["status"] == "succeeded", 180, "the resumed run")

    events = read_jsonl(run / "events.jsonl")
    assert any(e.get("type") == "resumed" and e["step"] == stopped for e in events)
    steps = [m["step"] for m in read_jsonl(run / "metrics.jsonl") if m["loss"] is not None]
    assert steps == list(range(1, 301))  # no step trained twice, none skipped
    final = json.loads((run / "checkpoints" / "checkpoint-300" / "trainer_state.json").read_text())
    assert final["global_step"] == 300
    assert (run / "adapter" / "adapter_model.safetensors").exists()


def test_qlora_nf4_on_cpu(tmp_path: Path, tiny_model: Path):
    """QLoRA as on a GPU but with float32 compute (offline.md), 8-bit AdamW and packed sequences."""
    data = write_jsonl(tmp_path / "support.jsonl", chat_lines(24))
    result = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model), "--device", "cpu",
        "--option", "quantization=nf4", "--option", "optimizer=adamw_8bit", "--option", "max_steps=6",
        "--option", "gradient_accumulation=1", "--option", "generations=1", "--option", "max_new_tokens=4",
        "--option", "eval_steps=3", "--option", "packing=true", "--option", "max_length=256", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = only_run(tmp_path)
    state = json.loads((run / "trainer.json").read_text())
    assert state["status"] == "succeeded" and state["quantization"] == "nf4"
    assert state["model_info"]["linear_4bit"] == 14  # 7 projections x 2 layers, all in NF4
    config = (run / "config.toml").read_text()
    assert 'quantization = "nf4"' in config and 'compute_dtype = "float32"' in config
    losses = [m["loss"] for m in read_jsonl(run / "metrics.jsonl") if m["loss"] is not None]
    assert len(losses) == 6 and all(loss == loss for loss in losses)
    # evaluation in the middle of training (bitsandbytes repacks 4-bit weights for CPU inference) and at the end
    assert [m["step"] for m in read_jsonl(run / "metrics.jsonl") if m["eval_loss"] is not None] == [3, 6]
    adapter = json.loads((run / "adapter" / "adapter_config.json").read_text())
    assert adapter["r"] == 16 and adapter["peft_type"] == "LORA"


def test_dpo_on_a_preference_file(tmp_path: Path, tiny_model: Path):
    data = write_jsonl(tmp_path / "prefs.jsonl", preference_lines(30))
    result = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model), "--device", "cpu",
        "--option", "max_steps=8", "--option", "gradient_accumulation=1", "--option", "learning_rate=0.003",
        "--option", "generations=1", "--option", "max_new_tokens=4", cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "preference (DPO)" in result.stdout
    run = only_run(tmp_path)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "succeeded" and record["method"] == "dpo"
    state = json.loads((run / "trainer.json").read_text())
    assert state["method"] == "dpo" and state["examples"] == 27 and state["held_out"] == 3
    losses = [m["loss"] for m in read_jsonl(run / "metrics.jsonl") if m["loss"] is not None]
    assert len(losses) == 8 and losses[-1] < 0.6931  # below DPO's starting loss, ln 2
    assert (run / "adapter" / "adapter_model.safetensors").exists()
    assert "method: DPO" in (run / "evaluation.md").read_text()


@pytest.mark.parametrize(("example", "method"), [("support-chat.jsonl", "sft"), ("preference-dpo.jsonl", "dpo")])
def test_example_files_train_with_default_settings(tmp_path: Path, tiny_model: Path, example: str, method: str):
    """The README's promise: from a fresh clone, an example file trains a small model to completion on CPU."""
    data = Path(__file__).resolve().parents[3] / "examples" / example
    if not data.exists():
        pytest.skip(f"examples/{example} is not in this checkout")
    result = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model), "--device", "cpu",
        "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = only_run(tmp_path / "runs", nested=False)
    record = json.loads((run / "run.json").read_text())
    assert record["status"] == "succeeded" and record["method"] == method
    assert record["progress"]["step"] == record["progress"]["total_steps"] > 0
    assert f"Done: {run / 'adapter'}" in result.stdout
