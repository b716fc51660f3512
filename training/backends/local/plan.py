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

from ..base import BackendError, Plan, TrainRequest
from .options import resolve

if TYPE_CHECKING:
    from .run_config import LocalConfig


@dataclass
class LocalPlan(Plan):
    """The plan plus what only a local run has: where it trains, how long, how much memory."""

    device: str = "cpu"
    total_steps: int = 0
    memory_gb: float | None = None
    memory_detail: str = ""
    config: dict[str, Any] = field(default_factory=dict)


def analyse(cfg: LocalConfig, dataset: Path, validation: Path | None) -> dict[str, Any]:
    """Read and tokenize the data the way the trainer will: method, counts and the warnings to show first."""
    from . import data as D
    from .loading import load_tokenizer

    tokenizer = load_tokenizer(cfg)
    examples = D.read_examples(dataset)
    held_file = D.read_examples(validation) if validation else None
    method = D.method_for(examples, cfg.method)
    if held_file is not None:
        D.method_for(held_file, method)
    train, held = D.split_examples(examples, cfg.eval_split, cfg.seed, held_file)
    warnings: list[str] = []
    if method == "sft":
        tok = D.tokenize_sft(train, tokenizer, cfg.assistant_only_loss)
        lengths, lines, tokens, usable = tok.lengths, [e.line for e in train], tok.tokens, len(tok.rows)
        warnings += D.masking_warning(tok, D.has_generation_markers(tokenizer.chat_template), cfg.assistant_only_loss)
        if not usable:
            raise BackendError("no example is left to train on (every answer has weight 0)")
    else:
        lengths = D.preference_lengths(train, tokenizer)
        lines, tokens, usable = [e.line for e in train], sum(lengths), len(train)
    too_long = D.length_warning(lengths, lines, cfg.max_length)
    if too_long:
        warnings.insert(0, too_long)
    if not held:
        warnings.append(
            "no held-out examples: there will be no evaluation loss (set eval_split or add a validation file)"
        )
    return {"method": method, "examples": usable, "held_out": len(held), "tokens": tokens, "warnings": warnings}


def plan_request(request: TrainRequest) -> LocalPlan:
    """Everything `prepare` checks, in this process (it loads torch, transformers and the tokenizer)."""
    from .hardware import check_fits, model_shape
    from .loading import load_model_config

    cfg, devices = resolve(request)
    model_config = load_model_config(cfg)
    found = analyse(cfg, Path(request.dataset), Path(request.validation) if request.validation else None)
    shape = model_shape(model_config, cfg.lora.target_modules)
    estimate = check_fits(shape, cfg, found["method"], devices)
    return LocalPlan(
        model=cfg.base_model or "",
        method=found["method"],
        examples=found["examples"],
        tokens=found["tokens"],
        epochs=max(1, math.ceil(cfg.epochs)),
        cost_usd=0.0,
        warnings=found["warnings"],
        device=cfg.device,
        total_steps=cfg.total_steps(found["examples"]),
        memory_gb=round(estimate.total / 1024**3, 2),
        memory_detail=estimate.describe(),
        config=cfg.model_dump(),
    )
