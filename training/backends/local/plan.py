"""The local pre-flight: what a run will train on, where, and with how much memory, checked before any model loads.

`plan_request` does the work in the calling process: it loads torch, transformers and the tokenizer, so the
language server and the CLI reach it through `plan_child.py`. The data numbers come from `data.prepare`, the same
call the trainer makes, so what the plan reports is what trains.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..base import Plan, TrainRequest
from .options import resolve

if TYPE_CHECKING:
    pass


@dataclass
class LocalPlan(Plan):
    """The plan plus what only a local run has: where it trains, what it evaluates on, how long, how much memory."""

    device: str = "cpu"
    held_out: int = 0  # rows of the evaluation dataset
    total_steps: int = 0
    memory_gb: float | None = None
    memory_detail: str = ""
    config: dict[str, Any] = field(default_factory=dict)


def plan_request(request: TrainRequest) -> LocalPlan:
    """Everything `prepare` checks, in this process (it loads torch, transformers and the tokenizer)."""
    from .data import prepare
    from .hardware import check_fits, model_shape
    from .loading import load_model_config, load_tokenizer

    cfg, devices = resolve(request)
    model_config = load_model_config(cfg)
    validation = Path(request.validation) if request.validation else None
    data = prepare(cfg, load_tokenizer(cfg), Path(request.dataset), validation)
    shape = model_shape(model_config, cfg.lora.target_modules)
    estimate = check_fits(shape, cfg, data.method, devices)
    return LocalPlan(
        model=cfg.base_model or "",
        method=data.method,
        examples=len(data.train_rows),
        tokens=data.tokens,
        epochs=max(1, math.ceil(cfg.epochs)),
        cost_usd=0.0,
        warnings=data.warnings,
        device=cfg.device,
        held_out=len(data.held_rows),
        total_steps=cfg.total_steps(len(data.train_rows)),
        memory_gb=round(estimate.total / 1024**3, 2),
        memory_detail=estimate.describe(),
        config=cfg.model_dump(),
    )
