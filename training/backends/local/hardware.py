"""Where a run can train: the CUDA check, a memory estimate before anything loads, and the multi-GPU command line.

The estimate is deliberately simple (weights + LoRA state + activations + logits + a fixed overhead) so that its
refusal can name the setting that dominates. It is an estimate: the message says "about".
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...processes import python_command
from ..base import BackendError

if TYPE_CHECKING:
    from .run_config import LocalConfig

TRAINER_MODULE = "tuneline.training.backends.local.trainer"  # the child that trains (`python -m`)
GIB = 1024**3
CPU_MAX_PARAMS = 3_000_000_000  # past this a CPU run takes days: refuse and point at a GPU
CUDA_OVERHEAD = 1.0 * GIB  # CUDA context, cuBLAS workspaces, allocator slack


@dataclass
class GpuInfo:
    index: int
    name: str
    total_bytes: int
    bf16: bool


@dataclass
class ModelShape:
    """What the memory estimate needs, read from the model's config on the meta device (no weights loaded)."""

    parameters: int
    linear_parameters: int  # in nn.Linear layers other than the output head: what NF4 quantises
    lora_parameters_per_rank: int  # sum of (in + out) over the adapted linear layers
    hidden_size: int
    layers: int
    vocab_size: int
    model_type: str = ""


@dataclass
class MemoryEstimate:
    parts: dict[str, float] = field(default_factory=dict)  # bytes per component

    @property
    def total(self) -> float:
        return sum(self.parts.values())

    def largest(self) -> str:
        return max(self.parts, key=lambda k: self.parts[k])

    def describe(self) -> str:
        return ", ".join(f"{k} {v / GIB:.1f} GB" for k, v in sorted(self.parts.items(), key=lambda kv: -kv[1]))


def gpus() -> list[GpuInfo]:
    import torch

    if not torch.cuda.is_available():
        return []
    out = []
    for i in range(torch.cuda.device_count()):
        props = torch.cuda.get_device_properties(i)
        out.append(GpuInfo(i, props.name, int(props.total_memory), bool(torch.cuda.is_bf16_supported())))
    return out


def no_gpu_message() -> str:
    import torch

    build = "a CPU-only build of torch" if torch.version.cuda is None else f"torch with CUDA {torch.version.cuda}"
    return (
        f"No CUDA GPU is visible ({build}), and QLoRA training needs an NVIDIA GPU; "
        "for a small model add --device cpu (float32, no 4-bit by default, slow)."
    )


def resolve_device(wanted: str) -> tuple[str, list[GpuInfo]]:
    """("cuda" | "cpu", GPUs). `auto` and `cuda` refuse without a GPU: a silent CPU run of a 7B model never ends."""
    found = gpus()
    if wanted == "cpu":
        return "cpu", []
    if not found:
        raise BackendError(no_gpu_message())
    return "cuda", found


def available_ram() -> int:
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return 0


def model_shape(config: Any, lora_targets: list[str] | str) -> ModelShape:
    """Count parameters of the architecture in `config` (a transformers config) without allocating them."""
    import torch
    from transformers import AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config)
    head = model.get_output_embeddings()
    total = sum(p.numel() for p in model.parameters())
    linear = 0
    per_rank = 0
    for name, module in model.named_modules():
        if isinstance(module, torch.nn.Linear) and module is not head:
            linear += module.weight.numel()
            leaf = name.rsplit(".", 1)[-1]
            if lora_targets == "all-linear" or leaf in lora_targets or name in lora_targets:
                per_rank += module.in_features + module.out_features
    text = getattr(config, "text_config", None) or config
    return ModelShape(
        parameters=total,
        linear_parameters=linear,
        lora_parameters_per_rank=per_rank,
        hidden_size=int(getattr(text, "hidden_size", 0) or 0),
        layers=int(getattr(text, "num_hidden_layers", 0) or 0),
        vocab_size=int(getattr(text, "vocab_size", 0) or 0),
        model_type=str(getattr(config, "model_type", "")),
    )


def estimate_memory(shape: ModelShape, cfg: LocalConfig, method: str = "sft") -> MemoryEstimate:
    """Peak bytes on one device for a resolved config (no `auto` left)."""
    half = cfg.compute_dtype in ("bfloat16", "float16")
    act_bytes = 2 if half else 4
    other = shape.parameters - shape.linear_parameters
    if cfg.quantization == "nf4":
        # 4 bits per weight, plus the block scales (8-bit with double quantisation, else 32-bit per 64 weights).
        per_weight = 0.5 + (1.0 / 64 + 4.0 / (64 * 256) if cfg.double_quant else 4.0 / 64)
        weights = shape.linear_parameters * per_weight + other * act_bytes
    else:
        weights = shape.parameters * act_bytes
    lora = shape.lora_parameters_per_rank * cfg.lora.r
    optimizer_bytes = 2 if "8bit" in cfg.optimizer else 8
    lora_state = lora * (4 + 4 + optimizer_bytes)  # fp32 weights and gradients, optimizer moments
    tokens = cfg.batch_size * cfg.max_length * (2 if method == "dpo" else 1)  # DPO runs chosen and rejected together
    per_layer = 34 * shape.hidden_size * tokens * act_bytes / 2  # Korthikanti et al.: 34·s·b·h bytes in half precision
    if cfg.gradient_checkpointing:
        activations = shape.layers * shape.hidden_size * tokens * act_bytes + per_layer
    else:
        activations = shape.layers * per_layer
    # TRL's fused LM head computes log-probabilities in [4,096 tokens x a vocabulary slice] tiles, never all logits;
    # counted here as a tile and its gradient in float32, with the slice at most 8,192 wide.
    logits = min(tokens, 4096) * min(shape.vocab_size, 8192) * 4 * 2
    parts = {"weights": weights, "LoRA and optimizer": lora_state, "activations": activations, "logits": logits}
    if cfg.device == "cuda":
        parts["CUDA overhead"] = CUDA_OVERHEAD
    return MemoryEstimate(parts)


def lower_advice(cfg: LocalConfig, estimate: MemoryEstimate) -> str:
    """The settings to lower, the most effective first, with their current values."""
    tips = []
    largest = estimate.largest()
    if largest in ("activations", "logits"):
        tips.append(f"batch_size (now {cfg.batch_size}; raise gradient_accumulation to keep the effective batch)")
        tips.append(f"max_length (now {cfg.max_length})")
        if not cfg.gradient_checkpointing:
            tips.append("turn gradient_checkpointing on")
    if cfg.quantization != "nf4" and cfg.device == "cuda":
        tips.append('quantization = "nf4"')
    if largest == "LoRA and optimizer" or cfg.lora.r > 16:
        tips.append(f"lora.r (now {cfg.lora.r})")
    if largest == "weights":
        tips.append("a smaller base model")
    if largest not in ("activations", "logits"):
        tips.append(f"batch_size (now {cfg.batch_size})")
        tips.append(f"max_length (now {cfg.max_length})")
    return ", ".join(tips)


def check_fits(shape: ModelShape, cfg: LocalConfig, method: str, devices: list[GpuInfo]) -> MemoryEstimate:
    """Refuse, in one sentence, a run that cannot fit; return the estimate when it can."""
    estimate = estimate_memory(shape, cfg, method)
    need = estimate.total / GIB
    if cfg.device == "cpu":
        if shape.parameters > CPU_MAX_PARAMS:
            raise BackendError(
                f"the model has {shape.parameters / 1e9:.1f}B parameters, too many to train on CPU "
                f"(at most {CPU_MAX_PARAMS / 1e9:.0f}B); train it on a CUDA GPU"
            )
        ram = available_ram()
        if ram and estimate.total > ram:
            raise BackendError(
                f"this run needs about {need:.1f} GB of memory but {ram / GIB:.1f} GB is free; "
                f"lower {lower_advice(cfg, estimate)}"
            )
        return estimate
    used = devices[: cfg.distributed.num_processes]
    if len(used) < cfg.distributed.num_processes:
        raise BackendError(
            f"distributed.num_processes is {cfg.distributed.num_processes} but only {len(devices)} GPU(s) are visible"
        )
    smallest = min(used, key=lambda g: g.total_bytes)
    if estimate.total > smallest.total_bytes * 0.95:
        raise BackendError(
            f"this run needs about {need:.1f} GB of GPU memory ({estimate.describe()}) but the {smallest.name} has "
            f"{smallest.total_bytes / GIB:.1f} GB; lower {lower_advice(cfg, estimate)}"
        )
    return estimate


def oom_message(cfg: LocalConfig, step: int | None, device: str) -> str:
    where = "GPU" if device == "cuda" else "CPU"
    at = f" at step {step}" if step else ""
    tips = [f"batch_size (now {cfg.batch_size}; raise gradient_accumulation to keep the effective batch)"]
    tips.append(f"max_length (now {cfg.max_length})")
    if not cfg.gradient_checkpointing:
        tips.append("turn gradient_checkpointing on")
    if device == "cuda" and cfg.quantization != "nf4":
        tips.append('quantization = "nf4"')
    tips.append(f"lora.r (now {cfg.lora.r})")
    return f"Out of {where} memory{at}: lower " + ", ".join(tips) + ", then `tuneline runs resume`."


def is_oom(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, and the CPU allocator's and bitsandbytes' equivalents."""
    try:
        import torch

        if isinstance(exc, torch.OutOfMemoryError):
            return True
    except ImportError:  # pragma: no cover
        pass
    text = str(exc)
    return isinstance(exc, (MemoryError, RuntimeError)) and (
        isinstance(exc, MemoryError)
        or "out of memory" in text.lower()
        or "can't allocate memory" in text
        or "CUBLAS_STATUS_ALLOC_FAILED" in text
    )


# -- multi-GPU -----------------------------------------------------------------------------------------------------


def trainer_command(run_folder: Path, resume: bool = False, python: str | None = None) -> list[str]:
    """The single-process trainer child."""
    cmd = python_command(TRAINER_MODULE, str(run_folder), python=python)
    return [*cmd, "--resume"] if resume else cmd


def accelerate_command(
    cfg: LocalConfig, run_folder: Path, resume: bool = False, python: str | None = None
) -> list[str]:
    """`accelerate launch` for `cfg.distributed`: data parallel by default, DeepSpeed or FSDP with the user's
    config files passed through untouched. tuneline only builds this line; accelerate does the launching."""
    dist = cfg.distributed
    cmd = [python or sys.executable, "-m", "accelerate.commands.launch"]
    if dist.accelerate_config:
        cmd += ["--config_file", dist.accelerate_config]
    cmd += ["--num_processes", str(dist.num_processes), "--num_machines", "1"]
    if dist.strategy == "deepspeed":
        cmd += ["--use_deepspeed"]
        if dist.deepspeed_config:
            cmd += ["--deepspeed_config_file", dist.deepspeed_config]
    elif dist.strategy == "fsdp":
        cmd += ["--use_fsdp"]
    elif dist.num_processes > 1:
        cmd += ["--multi_gpu"]
    precision = {"bfloat16": "bf16", "float16": "fp16"}.get(cfg.compute_dtype, "no")
    if not (dist.strategy == "deepspeed" and dist.deepspeed_config):  # a DeepSpeed file sets its own precision
        cmd += ["--mixed_precision", precision]
    if dist.main_process_port:
        cmd += ["--main_process_port", str(dist.main_process_port)]
    cmd += ["-m", TRAINER_MODULE, str(run_folder)]
    return [*cmd, "--resume"] if resume else cmd


def launch_command(cfg: LocalConfig, run_folder: Path, resume: bool = False) -> list[str]:
    if cfg.distributed.num_processes > 1 or cfg.distributed.strategy != "ddp" or cfg.distributed.accelerate_config:
        return accelerate_command(cfg, run_folder, resume)
    return trainer_command(run_folder, resume)
