"""A local run's settings from a training request: defaults, then the TOML file the user named, then the command
line's options and the run manager's hyperparameters; and, once the device is known, every `auto` settled.

Both the pre-flight and `LocalBackend.start` go through `resolve`, so the plan and the run use the same settings.
pydantic is imported inside the functions: this module is imported by processes that only list runs.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import BackendError, TrainRequest

if TYPE_CHECKING:
    from .hardware import GpuInfo
    from .run_config import LocalConfig

# Request option keys that are not LocalConfig fields, and the CLI's names for some that are.
_OPTION_KEYS = {"config", "base_model", "device"}
_ALIASES = {
    "max_seq_length": "max_length",
    "lora_r": "lora.r",
    "lora_alpha": "lora.alpha",
    "num_gpus": "distributed.num_processes",
}
_UNSET_MODELS = {"", "local"}  # what the run manager passes when the user named no base model


def config_for(request: TrainRequest) -> LocalConfig:
    """The run's settings: defaults, then the TOML file (`options["config"]`), then the command line."""
    from .run_config import LocalConfig, RunConfigError, absolute_paths, load_config, parse_config

    options = dict(request.options or {})
    try:
        cfg = load_config(Path(options["config"])) if options.get("config") else LocalConfig()
        changes: dict[str, Any] = {}
        # --base-model wins over --model; but the worker's copy of the request holds --base-model as typed
        # (relative to where the user was) and the plan's absolute path as `model`: take the one that exists.
        named = [str(m) for m in (options.get("base_model"), request.model) if m and m not in _UNSET_MODELS]
        on_disk = [m for m in named if Path(m).expanduser().exists()]
        if named:
            changes["base_model"] = (on_disk or named)[0]
        device = str(options.get("device") or "")
        if device.startswith("cuda:"):  # one chosen GPU: the child sees only it
            changes["device"], changes["visible_devices"] = "cuda", device.split(":", 1)[1]
        elif device:
            changes["device"] = device
        for key, value in options.items():
            key = _ALIASES.get(key, key)
            if key in _OPTION_KEYS or value is None:
                continue
            head, _, leaf = key.partition(".")
            if leaf and head in ("lora", "distributed"):
                changes.setdefault(head, {})[leaf] = value
            elif key in LocalConfig.model_fields:
                changes[key] = value
            else:
                raise RunConfigError(f"unknown option {key!r} for the local backend; see docs/local-training.md")
        hyper = request.hyperparameters or {}
        epochs = hyper.get("n_epochs", hyper.get("epochs"))
        # The run manager echoes the plan's (whole) epochs back as n_epochs: only a different number overrides.
        if isinstance(epochs, (int, float)) and not isinstance(epochs, bool) and epochs != math.ceil(cfg.epochs):
            changes["epochs"] = epochs
        if isinstance(hyper.get("batch_size"), int):
            changes["batch_size"] = hyper["batch_size"]
        if isinstance(hyper.get("learning_rate"), (int, float)):
            changes["learning_rate"] = hyper["learning_rate"]
        elif isinstance(hyper.get("learning_rate_multiplier"), (int, float)):
            changes["learning_rate"] = cfg.learning_rate * hyper["learning_rate_multiplier"]
        seed = request.seed if request.seed is not None else hyper.get("seed")
        if isinstance(seed, int):
            changes["seed"] = seed
        return absolute_paths(parse_config(changes, cfg) if changes else cfg)
    except RunConfigError as exc:
        raise BackendError(str(exc)) from None


def resolve(request: TrainRequest) -> tuple[LocalConfig, list[GpuInfo]]:
    """The config with every `auto` settled for the device found (refusing a missing GPU)."""
    from .hardware import resolve_device

    cfg = config_for(request)
    device, devices = resolve_device(cfg.device)
    if cfg.visible_devices and devices:
        wanted = {int(i) for i in cfg.visible_devices.split(",") if i.strip().isdigit()}
        devices = [g for g in devices if g.index in wanted]
        if not devices:
            raise BackendError(f"no visible CUDA GPU has the index {cfg.visible_devices}")
    bf16 = all(g.bf16 for g in devices) if devices else False
    return cfg.resolved(device, bf16_supported=bf16), devices
