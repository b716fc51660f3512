"""The settings of a local QLoRA run: one pydantic model, read from and written to TOML.

A run folder keeps its own `config.toml`, so the run can be inspected, edited and resumed without the command line
that started it. Unknown keys are refused by name: a typo in a TOML file must not silently train with a default.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


class RunConfigError(ValueError):
    """A bad setting; `str(error)` is one sentence naming the key."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LoraSettings(_Strict):
    r: int = Field(16, ge=1, le=1024, description="LoRA rank")
    alpha: float = Field(32, gt=0, description="LoRA scaling numerator (the update is scaled by alpha / r)")
    dropout: float = Field(0.05, ge=0, lt=1)
    target_modules: list[str] | Literal["all-linear"] = Field(
        "all-linear", description="module names to adapt, or 'all-linear' for every linear projection but the head"
    )


class DistributedSettings(_Strict):
    """Multi-GPU runs go through `accelerate launch`; tuneline builds its command line and nothing more."""

    num_processes: int = Field(1, ge=1, description="GPUs to use (one process each)")
    strategy: Literal["ddp", "deepspeed", "fsdp"] = "ddp"
    accelerate_config: str | None = Field(None, description="an `accelerate config` YAML file, passed through")
    deepspeed_config: str | None = Field(None, description="a DeepSpeed JSON file, passed through")
    main_process_port: int | None = None


class LocalConfig(_Strict):
    """Everything a local run needs besides the data files. `auto` values are settled by `resolved()`."""

    base_model: str | None = Field(None, description="hub id (must be in the local cache offline) or a folder")
    method: Literal["auto", "sft", "dpo"] = "auto"
    device: Literal["auto", "cuda", "cpu"] = "auto"
    visible_devices: str | None = Field(None, description="CUDA_VISIBLE_DEVICES for the trainer, e.g. '1' or '0,1'")
    chat_template: str | None = Field(None, description="a .jinja file or the template text, replacing the model's")
    max_length: int = Field(1024, ge=16)
    lora: LoraSettings = Field(default_factory=LoraSettings)
    quantization: Literal["auto", "nf4", "none"] = Field("auto", description="auto: nf4 on a GPU, none on CPU")
    double_quant: bool = True
    compute_dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto: bfloat16 on a GPU that has it (else float16), float32 on CPU"
    )
    optimizer: str = Field("auto", description="auto: paged_adamw_8bit on a GPU, adamw_torch on CPU")
    learning_rate: float = Field(2e-4, gt=0)
    lr_scheduler: str = "cosine"
    warmup_ratio: float = Field(0.03, ge=0, lt=1)
    weight_decay: float = Field(0.0, ge=0)
    max_grad_norm: float = Field(1.0, gt=0)
    epochs: float = Field(3, gt=0)
    max_steps: int | None = Field(None, ge=1, description="stop after this many optimizer steps (overrides epochs)")
    batch_size: int = Field(4, ge=1, description="examples per device per forward pass")
    gradient_accumulation: int = Field(4, ge=1)
    gradient_checkpointing: bool | Literal["auto"] = Field("auto", description="auto: on for a GPU, off on CPU")
    packing: bool = False
    assistant_only_loss: bool = Field(True, description="train on assistant turns only (prompt-completion: completion)")
    seed: int = 42
    eval_split: float = Field(0.1, ge=0, lt=1, description="share held out when there is no validation file")
    eval_steps: int | None = Field(None, ge=1, description="evaluate every N steps (default: once per epoch)")
    save_steps: int = Field(50, ge=1, description="checkpoint every N steps")
    save_total_limit: int = Field(2, ge=1)
    logging_steps: int = Field(1, ge=1)
    beta: float = Field(0.1, gt=0, description="DPO: strength of the pull towards the base model")
    merge: bool = Field(False, description="also save the base model with the adapter merged in")
    generations: int = Field(3, ge=0, description="held-out prompts answered by base and tuned model after training")
    max_new_tokens: int = Field(128, ge=1)
    trust_remote_code: bool = False
    distributed: DistributedSettings = Field(default_factory=DistributedSettings)

    @field_validator("chat_template")
    @classmethod
    def _template_not_blank(_cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            raise ValueError("must not be empty")
        return value

    # -- derived values -------------------------------------------------------------------------------------------
    def resolved(self, device: str, bf16_supported: bool = True) -> LocalConfig:
        """A copy with every `auto` settled for `device` ("cuda" or "cpu"): what the trainer actually uses."""
        gpu = device == "cuda"
        data = self.model_dump()
        data["device"] = device
        if data["quantization"] == "auto":
            data["quantization"] = "nf4" if gpu else "none"
        if data["compute_dtype"] == "auto":
            data["compute_dtype"] = ("bfloat16" if bf16_supported else "float16") if gpu else "float32"
        if data["optimizer"] == "auto":
            data["optimizer"] = "paged_adamw_8bit" if gpu else "adamw_torch"
        if data["gradient_checkpointing"] == "auto":
            data["gradient_checkpointing"] = gpu
        return LocalConfig.model_validate(data)

    def steps_per_epoch(self, examples: int) -> int:
        return max(
            1, math.ceil(examples / (self.batch_size * self.distributed.num_processes) / self.gradient_accumulation)
        )

    def total_steps(self, examples: int) -> int:
        if self.max_steps:
            return self.max_steps
        return max(1, math.ceil(self.steps_per_epoch(examples) * self.epochs))


# -- reading and writing -------------------------------------------------------------------------------------------


def _explain(error: ValidationError) -> str:
    first = error.errors()[0]
    key = ".".join(str(p) for p in first["loc"]) or "config"
    if first["type"] == "extra_forbidden":
        return f"unknown setting {key!r}; see docs/local-training.md for the list"
    return f"setting {key!r}: {first['msg']}"


def parse_config(data: dict[str, Any], base: LocalConfig | None = None) -> LocalConfig:
    """`data` (TOML-shaped: nested `lora`/`distributed` tables) applied over `base`."""
    merged = _deep_merge(base.model_dump() if base else {}, data)
    try:
        return LocalConfig.model_validate(merged)
    except ValidationError as exc:
        raise RunConfigError(_explain(exc)) from None


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def load_config(path: Path, base: LocalConfig | None = None) -> LocalConfig:
    """Read a TOML file: its top level, or its `[local]` table, or `[tool.tuneline.local]` in a pyproject.toml."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RunConfigError(f"{path}: no such config file") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise RunConfigError(f"{path}: cannot read it ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise RunConfigError(f"{path}: not valid TOML ({exc})") from None
    table = data.get("tool", {}).get("tuneline", {}).get("local") if "tool" in data else None
    if table is None:
        table = data.get("local", data)
    if not isinstance(table, dict):
        raise RunConfigError(f"{path}: the [local] settings must be a table")
    try:
        return absolute_paths(parse_config(table, base), Path(path).resolve().parent)
    except RunConfigError as exc:
        raise RunConfigError(f"{path}: {exc}") from None


def absolute_paths(cfg: LocalConfig, *bases: Path) -> LocalConfig:
    """`cfg` with relative file settings made absolute (tried against `bases`, then the working folder): the
    trainer runs inside the run folder, where a relative path means nothing."""

    def fix(value: str | None, template: bool = False) -> str | None:
        if not value or Path(value).expanduser().is_absolute():
            return value
        if template and (value in ("chatml",) or "{%" in value or "{{" in value):
            return value
        for base in (*bases, Path.cwd()):
            candidate = (Path(base) / value).expanduser()
            if candidate.exists():
                return str(candidate.resolve())
        return value

    dist = cfg.distributed.model_copy(
        update={
            "accelerate_config": fix(cfg.distributed.accelerate_config),
            "deepspeed_config": fix(cfg.distributed.deepspeed_config),
        }
    )
    return cfg.model_copy(
        update={"base_model": fix(cfg.base_model), "chat_template": fix(cfg.chat_template, True), "distributed": dist}
    )


def dump_toml(data: dict[str, Any]) -> str:
    """TOML text for a config dump (scalars, lists, one level of tables); `None` values are left out."""
    lines: list[str] = []
    tables: list[tuple[str, dict[str, Any]]] = []
    for key, value in data.items():
        if isinstance(value, dict):
            tables.append((key, value))
        elif value is not None:
            lines.append(f"{key} = {_toml_value(value)}")
    for name, table in tables:
        lines.append("")
        lines.append(f"[{name}]")
        lines.extend(f"{k} = {_toml_value(v)}" for k, v in table.items() if v is not None)
    return "\n".join(lines) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else ("inf" if value > 0 else "-inf" if value < 0 else "nan")
    if isinstance(value, str):
        if "\n" in value:
            escaped = value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
            return f'"""\n{escaped}"""'
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\t", "\\t") + '"'
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def save_config(config: LocalConfig, path: Path, data_files: dict[str, str | None] | None = None) -> None:
    """Write `config` (and the run's data files, as a `[data]` table) atomically."""
    from ...runs import atomic_write_text

    body = config.model_dump()
    if data_files:
        body["data"] = {k: v for k, v in data_files.items() if v is not None}
    header = "# tuneline local training settings (docs/local-training.md). Edit, then `tuneline runs resume`.\n"
    atomic_write_text(Path(path), header + dump_toml(body))


def load_run_config(path: Path) -> tuple[LocalConfig, dict[str, str]]:
    """A run folder's `config.toml`: the settings and the `[data]` table (train / validation file paths)."""
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RunConfigError(f"{path}: cannot read the run's settings ({exc})") from None
    files = data.pop("data", {})
    try:
        return parse_config(data), files
    except RunConfigError as exc:
        raise RunConfigError(f"{path}: {exc}") from None
