"""The training child: `python -m tuneline.training.backends.local.trainer RUN_FOLDER [--resume]`.

It reads the run folder (`config.toml` with the settings and data files), trains with TRL, and reports only
through files: `metrics.jsonl` and `events.jsonl` (through the run registry) and `trainer.json`, its own state,
replaced atomically. The process that launched it (`LocalBackend.poll`) turns `trainer.json` into run.json updates,
so the two never write the same file.

SIGTERM (or Ctrl-C) during training asks for a clean stop: the current step ends, a checkpoint is saved, the
state says `cancelled` and the exit code is 0. `--resume` continues from the newest checkpoint.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys
import threading
import time
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...runs import now
from ..base import BackendError
from .hardware import is_oom, oom_message
from .run_config import LocalConfig, RunConfigError, load_run_config

if TYPE_CHECKING:
    from .data import Prepared
    from .examples import Example
from .rundir import ADAPTER, CHECKPOINTS, MERGED, RunFolder, last_checkpoint, read_state


class StoppedBeforeTraining(Exception):
    """Raised by the signal handler when a stop is asked for before training began (nothing to checkpoint)."""


class Job:
    """One invocation of the trainer on one run folder."""

    def __init__(self, folder: Path) -> None:
        self.rundir = RunFolder(folder, main_process=int(os.environ.get("RANK", "0")) == 0)
        self.stop = threading.Event()
        self.phase = "starting"
        self.world_size = int(os.environ.get("WORLD_SIZE", "1"))
        self.config: LocalConfig | None = None

    # -- signals -------------------------------------------------------------------------------------------------
    def on_signal(self, _signum: int, _frame: Any) -> None:
        first = not self.stop.is_set()
        self.stop.set()
        if self.phase in ("starting", "loading") and first:
            raise StoppedBeforeTraining()

    # -- the run -----------------------------------------------------------------------------------------------
    def run(self, resume: bool = False) -> int:
        previous = read_state(self.rundir.path)
        self.rundir.state = {k: previous[k] for k in ("warnings", "total_steps", "resumes") if k in previous}
        self.rundir.set_state(status="running", phase="loading", pid=os.getpid(), error=None, started_at=now())
        try:
            return self._run(resume)
        except StoppedBeforeTraining:
            self.rundir.set_state(status="cancelled", phase="done", finished_at=now())
            self.rundir.event("cancelled", "cancelled before training began")
            return 0
        except BackendError as exc:
            return self.fail(str(exc))
        except RunConfigError as exc:
            return self.fail(str(exc))
        except BaseException as exc:
            if isinstance(exc, (SystemExit, KeyboardInterrupt)) and not self.stop.is_set():
                raise
            if is_oom(exc) and self.config is not None:
                traceback.print_exc()
                return self.fail(oom_message(self.config, self.rundir.step or None, self.config.device), kind="oom")
            traceback.print_exc()
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            return self.fail(f"training failed ({type(exc).__name__}: {first[:300]}); the details are in trainer.log")

    def fail(self, message: str, kind: str = "error") -> int:
        self.rundir.set_state(status="failed", phase="done", error=message, finished_at=now())
        self.rundir.event(kind, message)
        print(message, file=sys.stderr)
        return 1

    def _run(self, resume: bool) -> int:
        from .data import prepare
        from .loading import load_model, load_tokenizer, lora_config

        self.phase = "loading"
        cfg, files = load_run_config(self.rundir.path / "config.toml")
        self.config = cfg
        if "train" not in files:
            raise BackendError("the run's config.toml names no training file ([data] train)")
        checkpoint = last_checkpoint(self.rundir.path) if resume else None
        if resume and checkpoint is None:
            raise BackendError("this run has no checkpoint to resume from; start a new run")

        tokenizer = load_tokenizer(cfg)
        validation = Path(files["validation"]) if files.get("validation") else None
        data = prepare(cfg, tokenizer, Path(files["train"]), validation)
        self.rundir.set_state(method=data.method, examples=len(data.train_rows), held_out=len(data.held_rows))

        model = load_model(cfg, device_map=self._device_map(cfg))
        trainer = self._trainer(cfg, data, model, tokenizer, lora_config(cfg))
        self.rundir.set_state(
            model_info=describe_model(trainer.model), device=cfg.device, quantization=cfg.quantization
        )
        if checkpoint is not None:
            resumed = int(checkpoint.name.rsplit("-", 1)[-1])
            self.rundir.set_state(resumes=int(self.rundir.state.get("resumes", 0)) + 1, resumed_from=resumed)
            self.rundir.event("resumed", f"resuming from step {resumed}", step=resumed, checkpoint=str(checkpoint))

        self.phase = "training"
        if self.stop.is_set():
            raise StoppedBeforeTraining()
        self.rundir.set_state(phase="training")
        trainer.train(resume_from_checkpoint=str(checkpoint) if checkpoint else None)

        if self.stop.is_set():
            saved = last_checkpoint(self.rundir.path)
            self.rundir.set_state(
                status="cancelled",
                phase="done",
                checkpoint=str(saved) if saved else None,
                step=trainer.state.global_step,
                finished_at=now(),
            )
            self.rundir.event(
                "cancelled",
                f"stopped at step {trainer.state.global_step}; checkpoint saved, resume with "
                f"`tuneline runs resume {self.rundir.run_id}`",
                step=trainer.state.global_step,
            )
            return 0

        self.phase = "saving"
        self.rundir.set_state(phase="saving", step=trainer.state.global_step)
        adapter = self.rundir.path / ADAPTER
        trainer.save_model(str(adapter))
        if self.rundir.main_process:
            tokenizer.save_pretrained(str(adapter))
        self.rundir.event("saved", f"adapter saved in {adapter}", path=str(adapter))

        if self.rundir.main_process:
            self.phase = "evaluating"
            self.rundir.set_state(phase="evaluating")
            self._report(cfg, data.method, trainer, tokenizer, data.held)
            if cfg.merge and not self.stop.is_set():
                self.phase = "merging"
                self.rundir.set_state(phase="merging")
                del trainer, model
                gc.collect()
                self._merge(cfg, adapter, tokenizer)
        self.rundir.set_state(status="succeeded", phase="done", adapter=str(adapter), finished_at=now())
        self.rundir.event("succeeded", "training finished", adapter=str(adapter))
        return 0

    # -- pieces ----------------------------------------------------------------------------------------------------
    def _device_map(self, cfg: LocalConfig) -> Any:
        if cfg.device == "cpu":
            return "cpu" if cfg.quantization == "nf4" else None
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            return {"": int(os.environ.get("LOCAL_RANK", "0"))}  # data parallel: one whole copy per GPU
        return {"": 0}

    def _trainer(
        self,
        cfg: LocalConfig,
        data: Prepared,
        model: Any,
        tokenizer: Any,
        peft_config: Any,
    ) -> Any:
        """TRL's SFTTrainer or DPOTrainer over `data`'s rows, as they are (no second pass over the files)."""
        from datasets import Dataset
        from transformers.trainer_callback import PrinterCallback, ProgressCallback

        from .callbacks import MetricsCallback, StopCallback

        common: dict[str, Any] = {
            "output_dir": str(self.rundir.path / CHECKPOINTS),
            "num_train_epochs": cfg.epochs,
            "max_steps": cfg.max_steps or -1,
            "per_device_train_batch_size": cfg.batch_size,
            "per_device_eval_batch_size": cfg.batch_size,
            "gradient_accumulation_steps": cfg.gradient_accumulation,
            "learning_rate": cfg.learning_rate,
            "lr_scheduler_type": cfg.lr_scheduler,
            "warmup_steps": cfg.warmup_ratio,
            "weight_decay": cfg.weight_decay,
            "max_grad_norm": cfg.max_grad_norm,
            "optim": cfg.optimizer,
            "seed": cfg.seed,
            "logging_steps": cfg.logging_steps,
            "save_strategy": "steps",
            "save_steps": cfg.save_steps,
            "save_total_limit": cfg.save_total_limit,
            "eval_strategy": ("steps" if cfg.eval_steps else "epoch") if data.held_rows else "no",
            "eval_steps": cfg.eval_steps,
            "bf16": cfg.compute_dtype == "bfloat16",
            "fp16": cfg.compute_dtype == "float16",
            "use_cpu": cfg.device == "cpu",
            "report_to": "none",
            "disable_tqdm": True,
            "include_num_input_tokens_seen": "non_padding",
            "dataloader_pin_memory": cfg.device == "cuda",
            "max_length": cfg.max_length,
        }
        from transformers import TrainingArguments

        # transformers 5.2x renamed gradient_checkpointing (TRL still defaults the old name to True).
        name = (
            "activation_checkpointing"
            if "activation_checkpointing" in TrainingArguments.__dataclass_fields__
            else ("gradient_checkpointing")
        )
        common[name] = bool(cfg.gradient_checkpointing)
        if cfg.gradient_checkpointing:
            common[f"{name}_kwargs"] = {"use_reentrant": False}
        if int(os.environ.get("WORLD_SIZE", "1")) > 1:
            common["ddp_find_unused_parameters"] = False
        train_ds = Dataset.from_list(data.train_rows)
        eval_ds = Dataset.from_list(data.held_rows) if data.held_rows else None
        callbacks = [MetricsCallback(self.rundir), StopCallback(self.stop, self.world_size)]
        parts = {
            "model": model,
            "train_dataset": train_ds,
            "eval_dataset": eval_ds,
            "processing_class": tokenizer,
            "peft_config": peft_config,
            "callbacks": callbacks,
        }
        if data.method == "dpo":
            from trl import DPOConfig, DPOTrainer

            trainer = DPOTrainer(args=DPOConfig(**common, beta=cfg.beta), **parts)
        else:
            from trl import SFTConfig, SFTTrainer

            # The labels are built in data.py (weight-0 turns, prompt masking); TRL keeps them, truncates, packs.
            args = SFTConfig(**common, packing=cfg.packing, assistant_only_loss=False, completion_only_loss=False)
            trainer = SFTTrainer(args=args, **parts)
        for noisy in (PrinterCallback, ProgressCallback):
            trainer.remove_callback(noisy)
        return trainer

    def _report(self, cfg: LocalConfig, method: str, trainer: Any, tokenizer: Any, held: list[Example]) -> None:
        from .evaluation import evaluate, plot_loss

        summary: dict[str, Any] = {}
        if held:
            summary = evaluate(self.rundir, cfg, method, trainer, tokenizer, held, self.stop)
            self.rundir.set_state(evaluation=summary)
        else:
            self.rundir.event(
                "warning", "no held-out examples: no evaluation (set eval_split or pass a validation file)"
            )
        try:
            metrics = self.rundir.metrics()
            plot_loss(
                metrics, self.rundir.path / "loss.png", title=self.rundir.run_id, baseline=summary.get("base_eval_loss")
            )
        except Exception as exc:  # a missing plot must not fail a finished run
            self.rundir.event("warning", f"the loss plot could not be drawn: {exc}")

    def _merge(self, cfg: LocalConfig, adapter: Path, tokenizer: Any) -> None:
        """Fold the adapter into a full-precision copy of the base model (merging into 4-bit weights loses
        precision, so the base is reloaded unquantised)."""
        from peft import PeftModel

        from .loading import load_model

        plain = cfg.model_copy(update={"quantization": "none"})
        base = load_model(plain, device_map="cpu" if cfg.device == "cpu" else {"": 0})
        merged = PeftModel.from_pretrained(base, str(adapter)).merge_and_unload()
        target = self.rundir.path / MERGED
        merged.save_pretrained(str(target))
        tokenizer.save_pretrained(str(target))
        self.rundir.set_state(merged=str(target))
        self.rundir.event("merged", f"merged model saved in {target}", path=str(target))


def describe_model(model: Any) -> dict[str, Any]:
    """Parameter counts, and how many linear layers are 4-bit: the evidence that QLoRA is really QLoRA."""
    total = trainable = 0
    for p in model.parameters():
        n = p.numel() * (2 if p.__class__.__name__ == "Params4bit" else 1)  # packed: two 4-bit weights per byte
        total += n
        trainable += n if p.requires_grad else 0
    quantized = sum(
        1 for m in model.modules() if type(m).__name__ == "Linear4bit" and type(m).__module__.startswith("bitsandbytes")
    )  # peft's LoRA wrapper around each one has the same class name
    return {"parameters": total, "trainable": trainable, "linear_4bit": quantized}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tuneline.training.backends.local.trainer")
    parser.add_argument("run_folder", type=Path)
    parser.add_argument("--resume", action="store_true", help="continue from the newest checkpoint")
    args = parser.parse_args(argv)
    if not (args.run_folder / "config.toml").is_file():
        print(f"{args.run_folder}: not a local run folder (no config.toml)", file=sys.stderr)
        return 2
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    job = Job(args.run_folder)
    signal.signal(signal.SIGTERM, job.on_signal)
    signal.signal(signal.SIGINT, job.on_signal)
    started = time.monotonic()
    code = job.run(resume=args.resume)
    print(f"trainer exited with {code} after {time.monotonic() - started:.1f} s", file=sys.stderr)
    return code


if __name__ == "__main__":
    sys.exit(main())
