"""Trainer callbacks: every log becomes a `metrics.jsonl` line and a progress update, and a stop request becomes
"save a checkpoint now and end training" at the next step boundary."""

from __future__ import annotations

import threading
import time
from typing import Any

from transformers import TrainerCallback

from .rundir import RunFolder


def _gpu_memory_mb() -> float | None:
    import torch

    if not torch.cuda.is_available():
        return None
    return round(torch.cuda.max_memory_allocated() / 2**20, 1)


def _number(value: Any) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN is not JSON


class MetricsCallback(TrainerCallback):
    """Every logged step becomes a `metrics.jsonl` line (with the token rate since the last one), every step a
    progress update in `trainer.json`, every checkpoint an event."""

    def __init__(self, run: RunFolder) -> None:
        self.run = run
        self.last_time: float | None = None
        self.last_tokens: float | None = None

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.last_time = time.monotonic()
        self.last_tokens = float(state.num_input_tokens_seen or 0)
        self.run.progress(state.global_step, state.max_steps, _number(state.epoch) or 0.0)
        resumed = f" from step {state.global_step}" if state.global_step else ""
        self.run.event("training", f"training {state.max_steps} steps{resumed}", total_steps=state.max_steps)

    def on_log(self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kwargs: Any) -> None:
        logs = logs or {}
        if "loss" not in logs and "eval_loss" not in logs:
            return  # the closing summary (train_runtime, train_loss) is not a point on the curve
        rate = None
        seen = _number(logs.get("num_input_tokens_seen"))
        clock = time.monotonic()
        if "loss" in logs and seen is not None and self.last_tokens is not None and self.last_time is not None:
            elapsed = clock - self.last_time
            if elapsed > 0 and seen >= self.last_tokens:
                rate = round((seen - self.last_tokens) / elapsed, 1)
            self.last_tokens, self.last_time = seen, clock
        item = {
            "step": state.global_step,
            "loss": _number(logs.get("loss")),
            "eval_loss": _number(logs.get("eval_loss")),
            "learning_rate": _number(logs.get("learning_rate")),
            "epoch": _number(logs.get("epoch", state.epoch)),
            "tokens_per_second": rate,
            "gpu_memory_mb": _gpu_memory_mb(),
        }
        self.run.metric(item)

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.run.progress(state.global_step, state.max_steps, round(state.epoch or 0.0, 2))

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        path = f"{args.output_dir}/checkpoint-{state.global_step}"
        self.run.set_state(checkpoint=path)
        self.run.event("checkpoint", f"checkpoint saved at step {state.global_step}", step=state.global_step, path=path)


class StopCallback(TrainerCallback):
    """A stop request (SIGTERM) ends training after the current optimizer step, with a checkpoint of it."""

    def __init__(self, stop: threading.Event, world_size: int = 1) -> None:
        self.stop = stop
        self.world_size = world_size

    def _stop(self) -> bool:
        stop = self.stop.is_set()
        if self.world_size > 1:  # every rank must stop at the same step, or the others wait forever
            import torch
            import torch.distributed as dist

            if dist.is_available() and dist.is_initialized():
                flag = torch.tensor([1 if stop else 0], device="cuda" if torch.cuda.is_available() else "cpu")
                dist.all_reduce(flag, op=dist.ReduceOp.MAX)
                stop = bool(flag.item())
                if stop:
                    self.stop.set()
        return stop

    def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self._stop():
            control.should_save = True
            control.should_training_stop = True
            control.should_evaluate = False  # a cancel should be quick: no evaluation pass on the way out
        return control

    def on_epoch_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
        if self.stop.is_set():
            control.should_evaluate = False
        return control
