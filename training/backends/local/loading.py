"""Finding and loading the base model and its tokenizer, with one-sentence failures.

A hub id that is neither on disk nor reachable must read as a sentence, not a 60-line OSError: most users of the
local backend are offline on purpose. A `.gguf` file is accepted as a base model (transformers dequantises it).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import BackendError
from .data import load_template

if TYPE_CHECKING:
    from .run_config import LocalConfig


def model_location(name: str) -> tuple[str, dict[str, Any]]:
    """(what from_pretrained takes, extra keyword arguments): folders, hub ids and single .gguf files."""
    path = Path(name).expanduser()
    if name.endswith(".gguf"):
        if not path.is_file():
            raise BackendError(f"{name}: no such GGUF file")
        return str(path.parent), {"gguf_file": path.name}
    if path.is_dir():
        if not (path / "config.json").exists():
            ggufs = sorted(path.glob("*.gguf"))
            if len(ggufs) == 1:
                return str(path), {"gguf_file": ggufs[0].name}
            raise BackendError(f"{name}: not a transformers model folder (it has no config.json)")
        return str(path), {}
    if name.startswith(("/", "./", "../", "~")) or path.exists():
        raise BackendError(f"{name}: no such model folder")
    return name, {}


def _unreachable(name: str) -> BackendError:
    return BackendError(
        f"model {name!r} is not on this machine and cannot be downloaded here; fetch it once where there is "
        f"internet (`hf download {name}`) or pass --base-model with a local folder"
    )


def load_model_config(cfg: LocalConfig) -> Any:
    from transformers import AutoConfig

    if not cfg.base_model:
        raise BackendError("no base model: pass --base-model (a hub id or a local folder) or set base_model")
    where, extra = model_location(cfg.base_model)
    try:
        return AutoConfig.from_pretrained(where, trust_remote_code=cfg.trust_remote_code, **extra)
    except OSError:
        raise _unreachable(cfg.base_model) from None
    except ValueError as exc:
        if "trust_remote_code" in str(exc):
            raise BackendError(
                f"model {cfg.base_model!r} ships its own code; set trust_remote_code = true if you trust it"
            ) from None
        raise BackendError(f"model {cfg.base_model!r} cannot be read: {_first_line(exc)}") from None


def load_tokenizer(cfg: LocalConfig, local_files_only: bool = False) -> Any:
    """The base model's tokenizer with the configured chat template, and a pad token (TRL pads batches).
    `local_files_only`: never reach the hub (a checker), without setting HF_HUB_OFFLINE for the whole process."""
    from transformers import AutoTokenizer

    where, extra = model_location(cfg.base_model or "")
    if local_files_only:
        extra = {**extra, "local_files_only": True}
    try:
        tokenizer = AutoTokenizer.from_pretrained(where, trust_remote_code=cfg.trust_remote_code, **extra)
    except OSError:
        raise _unreachable(cfg.base_model or "") from None
    except (ValueError, TypeError) as exc:
        raise BackendError(f"the tokenizer of {cfg.base_model!r} cannot be loaded: {_first_line(exc)}") from None
    if cfg.chat_template:
        tokenizer.chat_template = load_template(cfg.chat_template)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def torch_dtype(name: str) -> Any:
    import torch

    return {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}[name]


def load_model(cfg: LocalConfig, device_map: Any = None) -> Any:
    """The base model for training: NF4 4-bit with double quantisation when asked (bitsandbytes, on GPU or CPU),
    else in the compute dtype. LoRA is added by the trainer from `lora_config`."""
    import torch
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    where, extra = model_location(cfg.base_model or "")
    dtype = torch_dtype(cfg.compute_dtype)
    kwargs: dict[str, Any] = {"dtype": dtype, "trust_remote_code": cfg.trust_remote_code, **extra}
    if cfg.quantization == "nf4":
        storage = dtype if cfg.distributed.strategy == "fsdp" else torch.uint8  # FSDP shards need a float storage
        kwargs["quantization_config"] = BitsAndBytesConfig(
            load_in_4bit=True,
            bnb_4bit_quant_type="nf4",
            bnb_4bit_use_double_quant=cfg.double_quant,
            bnb_4bit_compute_dtype=dtype,
            bnb_4bit_quant_storage=storage,
        )
        kwargs["device_map"] = device_map if device_map is not None else ("cpu" if cfg.device == "cpu" else {"": 0})
    elif device_map is not None:
        kwargs["device_map"] = device_map
    try:
        model = AutoModelForCausalLM.from_pretrained(where, **kwargs)
    except OSError:
        raise _unreachable(cfg.base_model or "") from None
    if extra.get("gguf_file") and getattr(model, "hf_quantizer", None) is not None:
        # The weights are dequantised already; the GGUF marker left on the model would stop peft and the Trainer.
        model.hf_quantizer.remove_quantization_config(model)
    if cfg.quantization == "nf4":
        from peft import prepare_model_for_kbit_training

        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=bool(cfg.gradient_checkpointing))
    model.config.use_cache = False
    return model


def lora_config(cfg: LocalConfig) -> Any:
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules=cfg.lora.target_modules,
        bias="none",
        task_type="CAUSAL_LM",
    )
