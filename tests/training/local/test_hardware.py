"""Hardware checks before anything loads: no GPU, too little memory, a model that is not on disk, out of memory
during training, and the `accelerate launch` line for several GPUs."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tuneline.training.backends.base import BackendError, TrainRequest
from tuneline.training.backends.local import BACKEND
from tuneline.training.backends.local.hardware import (
    GIB,
    GpuInfo,
    accelerate_command,
    check_fits,
    estimate_memory,
    model_shape,
    resolve_device,
)
from tuneline.training.backends.local.run_config import LocalConfig

from .conftest import chat_lines, write_jsonl

torch = pytest.importorskip("torch")
no_cuda = pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA GPU")


def llama7b_config():
    from transformers import LlamaConfig

    return LlamaConfig(
        hidden_size=4096,
        intermediate_size=11008,
        num_hidden_layers=32,
        num_attention_heads=32,
        num_key_value_heads=32,
        vocab_size=32000,
    )


@pytest.fixture(scope="module")
def shape7b():
    return model_shape(llama7b_config(), "all-linear")


def test_parameter_counts_come_from_the_config_alone(shape7b):
    assert 6.6e9 < shape7b.parameters < 6.8e9  # Llama-2-7B: 6.74B
    assert shape7b.linear_parameters == 32 * (4 * 4096 * 4096 + 3 * 4096 * 11008)
    # LoRA on all seven projections of every layer: r * (in + out) each.
    assert shape7b.lora_parameters_per_rank == 32 * (4 * (4096 + 4096) + 2 * (4096 + 11008) + (11008 + 4096))


def test_qlora_on_a_7b_model_fits_a_24gb_gpu_but_not_an_8gb_one(shape7b):
    cfg = LocalConfig(max_length=2048, batch_size=2).resolved("cuda", bf16_supported=True)
    estimate = estimate_memory(shape7b, cfg)
    assert 3.4 * GIB < estimate.parts["weights"] < 4.5 * GIB  # NF4: about half a byte per weight
    assert 5 * GIB < estimate.total < 20 * GIB
    check_fits(shape7b, cfg, "sft", [GpuInfo(0, "NVIDIA L4", 24 * GIB, True)])
    big = LocalConfig(max_length=4096, batch_size=16, gradient_checkpointing=False).resolved("cuda")
    with pytest.raises(BackendError) as refused:
        check_fits(shape7b, big, "sft", [GpuInfo(0, "NVIDIA T4", 8 * GIB, False)])
    message = str(refused.value)
    assert message.startswith("this run needs about ")
    assert "NVIDIA T4 has 8.0 GB" in message
    assert "batch_size (now 16" in message and "max_length (now 4096)" in message
    assert "gradient_checkpointing" in message
    assert "\n" not in message


def test_several_gpus_must_exist(shape7b):
    cfg = LocalConfig(distributed={"num_processes": 4}).resolved("cuda")
    with pytest.raises(BackendError, match="num_processes is 4 but only 1 GPU"):
        check_fits(shape7b, cfg, "sft", [GpuInfo(0, "A100", 80 * GIB, True)])


def test_cpu_refuses_large_models(shape7b):
    with pytest.raises(BackendError, match="too many to train on CPU"):
        check_fits(shape7b, LocalConfig().resolved("cpu"), "sft", [])


@no_cuda
def test_no_gpu_is_one_sentence_unless_cpu_is_asked_for(tmp_path: Path, tiny_model: Path):
    with pytest.raises(BackendError) as refused:
        resolve_device("auto")
    assert str(refused.value).startswith("No CUDA GPU is visible")
    assert "--device cpu" in str(refused.value)
    assert resolve_device("cpu") == ("cpu", [])
    data = write_jsonl(tmp_path / "d.jsonl", chat_lines(10))
    with pytest.raises(BackendError, match="No CUDA GPU"):
        BACKEND.prepare(TrainRequest(dataset=data, options={"base_model": str(tiny_model)}))


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "tuneline", *args], cwd=cwd, capture_output=True, text=True, timeout=120
    )


@no_cuda
def test_cli_refusals_are_sentences_not_tracebacks(tmp_path: Path, tiny_model: Path):
    data = write_jsonl(tmp_path / "d.jsonl", chat_lines(12))
    no_gpu = run_cli(
        "train", str(data), "--backend", "local", "--base-model", str(tiny_model), "--dry-run", cwd=tmp_path
    )
    missing = run_cli(
        "train", str(data), "--backend", "local", "--base-model", "acme/never-downloaded-7b", "--device", "cpu",
        "--dry-run", cwd=tmp_path,
    )  # fmt: skip
    for result in (no_gpu, missing):
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stdout + result.stderr
    assert "No CUDA GPU is visible" in " ".join(no_gpu.stdout.split())
    said = " ".join(missing.stdout.split()).lower()  # the pre-flight wraps and capitalises
    assert "model 'acme/never-downloaded-7b' is not on this machine and cannot be downloaded here" in said
    assert not (tmp_path / ".tuneline").exists()  # nothing was started


def test_offline_hub_id_is_one_sentence(tmp_path: Path):
    data = write_jsonl(tmp_path / "d.jsonl", chat_lines(10))
    request = TrainRequest(dataset=data, options={"base_model": "acme/not-here", "device": "cpu"})
    with pytest.raises(BackendError, match=r"^model 'acme/not-here' is not on this machine"):
        BACKEND.prepare(request)
    request = TrainRequest(dataset=data, options={"base_model": str(tmp_path / "nope"), "device": "cpu"})
    with pytest.raises(BackendError, match="no such model folder"):
        BACKEND.prepare(request)


def test_accelerate_launch_command_lines():
    from accelerate.commands.launch import launch_command_parser

    parser = launch_command_parser()
    folder = Path("/runs/r1")

    ddp = LocalConfig(distributed={"num_processes": 2}).resolved("cuda")
    cmd = accelerate_command(ddp, folder, resume=True)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    args = parser.parse_args(cmd[3:])
    assert (args.num_processes, args.multi_gpu, args.mixed_precision) == (2, True, "bf16")
    assert args.module and args.training_script == "tuneline.training.backends.local.trainer"
    assert args.training_script_args == [str(folder), "--resume"]

    ds = LocalConfig(distributed={"num_processes": 4, "strategy": "deepspeed", "deepspeed_config": "/c/ds.json"})
    args = parser.parse_args(accelerate_command(ds.resolved("cuda"), folder)[3:])
    assert args.use_deepspeed and args.deepspeed_config_file == "/c/ds.json" and args.num_processes == 4
    assert args.training_script_args == [str(folder)]

    fsdp = LocalConfig(distributed={"num_processes": 8, "strategy": "fsdp", "accelerate_config": "/c/fsdp.yaml"})
    args = parser.parse_args(accelerate_command(fsdp.resolved("cuda", bf16_supported=False), folder)[3:])
    assert args.use_fsdp and args.config_file == "/c/fsdp.yaml" and args.mixed_precision == "fp16"


def test_out_of_memory_during_training_names_the_settings(tmp_path: Path, tiny_model: Path, monkeypatch):
    """A real OutOfMemoryError raised inside the model's forward at the third step, caught by the trainer."""
    from transformers.models.llama import modeling_llama

    from tuneline.training.backends.local.run_config import parse_config, save_config
    from tuneline.training.backends.local.rundir import read_state
    from tuneline.training.backends.local.trainer import Job
    from tuneline.training.runs import RunRecord, RunRegistry

    registry = RunRegistry(tmp_path / "runs")
    registry.create(RunRecord(id="oom", backend="local", model=str(tiny_model)))
    folder = registry.folder("oom")
    data = write_jsonl(tmp_path / "d.jsonl", chat_lines(20))
    cfg = parse_config({"base_model": str(tiny_model), "max_steps": 5, "batch_size": 2, "gradient_accumulation": 1})
    save_config(cfg.resolved("cpu"), folder / "config.toml", {"train": str(data)})

    real_forward = modeling_llama.LlamaModel.forward  # TRL calls the decoder itself (chunked loss)
    calls = {"n": 0}

    def forward(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 3:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
        return real_forward(self, *args, **kwargs)

    monkeypatch.setattr(modeling_llama.LlamaModel, "forward", forward)
    assert Job(folder).run() == 1
    state = read_state(folder)
    assert state["status"] == "failed"
    assert state["error"].startswith("Out of CPU memory at step 2: lower batch_size (now 2;")
    assert "max_length (now 1024)" in state["error"] and "tuneline runs resume" in state["error"]
    events = list(registry.read("oom", "events"))
    assert events[-1]["type"] == "oom"


def test_prepare_keeps_the_callers_process_light(tmp_path: Path, tiny_model: Path):
    """The language server and the CLI call `prepare`: the plan is made in a child, torch never loads here."""
    data = write_jsonl(tmp_path / "d.jsonl", chat_lines(12))
    script = f"""
import json, sys
from pathlib import Path
from tuneline.training.backends.base import BackendError, TrainRequest
from tuneline.training.backends.local import BACKEND
plan = BACKEND.prepare(TrainRequest(dataset=Path({str(data)!r}), options={{"base_model": {str(tiny_model)!r}, "device": "cpu", "max_length": 40}}))
try:
    BACKEND.prepare(TrainRequest(dataset=Path({str(data)!r}), options={{"base_model": "acme/absent", "device": "cpu"}}))
except BackendError as exc:
    refused = str(exc)
print(json.dumps({{"torch": "torch" in sys.modules, "method": plan.method, "examples": plan.examples,
                  "device": plan.device, "warnings": plan.warnings, "refused": refused}}))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    import json

    answer = json.loads(done.stdout.strip().splitlines()[-1])
    assert answer["torch"] is False
    assert (answer["method"], answer["device"]) == ("sft", "cpu") and 0 < answer["examples"] <= 12
    assert answer["warnings"][0].startswith(f"{answer['examples']} of {answer['examples']} examples are longer")
    assert answer["refused"].startswith("model 'acme/absent' is not on this machine")
