"""The local backend: QLoRA (or plain LoRA on CPU) with transformers + peft + TRL on the user's own hardware.

`prepare` checks everything before a model loads: the device (no CUDA → one sentence, unless `--device cpu`), the
model on disk, the data (method, tokens, over-long examples, chat-template markers) and a memory estimate.
`start` writes the run's `config.toml` and launches the trainer child (`python -m …local.trainer`, or
`accelerate launch` for several GPUs) in its own session; `poll` follows its `trainer.json`; `cancel` sends it
SIGTERM (checkpoint, then exit); `resume` relaunches it from the newest checkpoint.

This module stays light: torch and friends are imported inside the methods that need them.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...processes import pid_alive
from ...runs import TERMINAL, RunRecord, RunRegistry
from ..base import Backend, BackendError, Plan, TrainRequest, Update

if TYPE_CHECKING:
    from .run_config import LocalConfig

TRAINER_MODULE = "tuneline.training.backends.local.trainer"
CANCEL_TIMEOUT = 600.0  # seconds to wait for the checkpoint a cancel asks for (a large model saves slowly)
# Request option keys that are not LocalConfig fields, and the CLI's names for some that are.
_OPTION_KEYS = {"config", "base_model", "device"}
_ALIASES = {
    "max_seq_length": "max_length",
    "lora_r": "lora.r",
    "lora_alpha": "lora.alpha",
    "num_gpus": "distributed.num_processes",
}
_UNSET_MODELS = {"", "local"}  # what the run manager passes when the user named no base model


@dataclass
class LocalPlan(Plan):
    """The plan plus what only a local run has: where it trains, how long, how much memory."""

    device: str = "cpu"
    total_steps: int = 0
    memory_gb: float | None = None
    memory_detail: str = ""
    config: dict[str, Any] = field(default_factory=dict)


def _require_extra() -> None:
    """The 'local' extra's packages are installed (found, not imported: this runs in light processes)."""
    import importlib.util

    for name in ("pydantic", "torch", "transformers", "trl", "peft", "datasets"):
        if importlib.util.find_spec(name) is None:
            raise BackendError(
                f"the local backend needs the 'local' extra: pip install 'tuneline[local]' ({name} is missing)"
            )


def config_for(request: TrainRequest) -> LocalConfig:
    """The run's settings: defaults, then the TOML file (`options["config"]`), then the command line."""
    from .run_config import ConfigError, LocalConfig, absolute_paths, load_config, parse_config

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
                raise ConfigError(f"unknown option {key!r} for the local backend; see docs/local-training.md")
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
    except ConfigError as exc:
        raise BackendError(str(exc)) from None


def resolve(request: TrainRequest) -> tuple[LocalConfig, list[Any]]:
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


def _alive(pid: int | None) -> bool:
    """True while `pid` is a running trainer (not a zombie, not a recycled pid)."""
    return pid_alive(pid, cmdline_marks=(TRAINER_MODULE.encode(), b"accelerate"))


class LocalBackend(Backend):
    name = "local"
    supports_resume = True
    default_model = ""

    def __init__(self) -> None:
        self._procs: dict[str, subprocess.Popen] = {}

    # -- before anything runs ------------------------------------------------------------------------------------
    def prepare(self, request: TrainRequest) -> LocalPlan:
        """The plan, computed in a child process unless torch is loaded here already: the CLI and the language
        server call this, and must not carry torch and transformers around afterwards."""
        _require_extra()
        if "torch" in sys.modules:
            return plan_request(request)
        from .plan import plan_in_child

        return plan_in_child(request)

    # -- running ---------------------------------------------------------------------------------------------------
    def start(self, request: TrainRequest, record: RunRecord, registry: RunRegistry) -> None:
        _require_extra()
        from .run_config import save_config

        cfg, _ = resolve(request)
        folder = registry.folder(record.id)
        files = {
            "train": str(Path(request.dataset).resolve()),
            "validation": str(Path(request.validation).resolve()) if request.validation else None,
        }
        save_config(cfg, folder / "config.toml", files)
        record.model = cfg.base_model or record.model
        record.hyperparameters = {**(record.hyperparameters or {}), **cfg.model_dump(), "n_epochs": cfg.epochs}
        self._launch(cfg, record, registry, resume=False)

    def _launch(self, cfg: LocalConfig, record: RunRecord, registry: RunRegistry, resume: bool) -> None:
        from ...runs import atomic_write_text, now
        from .hardware import launch_command
        from .rundir import STATE_FILE, read_state

        folder = registry.folder(record.id).resolve()
        cmd = launch_command(cfg, folder, resume=resume)
        # Until the child writes its own state, the previous run's (cancelled, failed) must not be read as final.
        state = {**read_state(folder), "status": "starting", "phase": "starting", "error": None, "updated_at": now()}
        atomic_write_text(folder / STATE_FILE, json.dumps(state, indent=2) + "\n")
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "TOKENIZERS_PARALLELISM": "false"}
        if cfg.visible_devices:
            env["CUDA_VISIBLE_DEVICES"] = cfg.visible_devices
        with (folder / "trainer.log").open("ab") as log:
            log.write(f"\n$ {' '.join(cmd)}\n".encode())
            log.flush()
            proc = subprocess.Popen(
                cmd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=str(folder),
                env=env,
                start_new_session=True,  # its own process group: a cancel reaches accelerate's workers too
                close_fds=True,
            )
        self._procs[record.id] = proc
        record.status = "running"
        record.error = None
        record.extra["trainer_pid"] = proc.pid
        record.extra["trainer_command"] = cmd
        registry.save(record)
        registry.append(record.id, "events", {"type": "status", "message": "trainer started", "pid": proc.pid})

    def _pid(self, record: RunRecord, registry: RunRegistry) -> int | None:
        from .rundir import read_state

        proc = self._procs.get(record.id)
        if proc is not None:
            return proc.pid
        state = read_state(registry.folder(record.id))
        return record.extra.get("trainer_pid") or state.get("pid")

    def _running(self, record: RunRecord, registry: RunRegistry) -> bool:
        proc = self._procs.get(record.id)
        if proc is not None:
            return proc.poll() is None
        return _alive(self._pid(record, registry))

    def poll(self, record: RunRecord, registry: RunRegistry) -> Iterator[Update]:
        """Follow `trainer.json` until the trainer ends. Metrics and events are already on disk (the trainer
        appends them itself), so updates carry only status, progress, result and error."""
        from .rundir import read_state

        folder = registry.folder(record.id)
        last: tuple[Any, ...] | None = None
        while True:
            running = self._running(record, registry)
            state = read_state(folder)
            status = state.get("status", "running")
            progress = {k: state[k] for k in ("step", "total_steps", "epoch") if state.get(k) is not None}
            if status in TERMINAL or not running:
                yield self._final(record, registry, state, running)
                return
            key = (status, tuple(progress.items()), state.get("phase"))
            if key != last:
                last = key
                yield Update(status="running", progress=progress or None)
            if self.wait(0.5):
                return  # the worker asked to stop: it calls cancel() next

    def _final(self, record: RunRecord, registry: RunRegistry, state: dict[str, Any], running: bool) -> Update:
        from .rundir import read_state

        folder = registry.folder(record.id)
        proc = self._procs.pop(record.id, None)
        code = None
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                code = proc.wait(timeout=30 if running else 5)
            state = read_state(folder)
        status = state.get("status")
        progress = {k: state[k] for k in ("step", "total_steps", "epoch") if state.get(k) is not None}
        if status == "succeeded":
            return Update(status="succeeded", progress=progress, result_model=state.get("adapter"))
        if status == "cancelled":
            return Update(status="cancelled", progress=progress)
        if status == "failed":
            return Update(status="failed", progress=progress, error=state.get("error"))
        if code is not None and code < 0:
            sig = signal.Signals(-code).name if -code in signal.Signals.__members__.values() else str(-code)
            hint = " (most likely the system ran out of memory)" if code == -signal.SIGKILL else ""
            return Update(status="failed", error=f"the trainer was killed by {sig}{hint}; see trainer.log")
        return Update(
            status="failed",
            error=f"the trainer ended unexpectedly{f' (exit code {code})' if code is not None else ''}; "
            f"see {folder / 'trainer.log'}",
        )

    def cancel(self, record: RunRecord, registry: RunRegistry) -> None:
        """SIGTERM to the trainer's process group; it saves a checkpoint and exits. Waits for that."""
        pid = self._pid(record, registry)
        if not self._running(record, registry) or not pid:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGTERM)
            else:
                os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + CANCEL_TIMEOUT
        while self._running(record, registry) and time.monotonic() < deadline:
            time.sleep(0.2)
        proc = self._procs.pop(record.id, None)
        if proc is not None:
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=1)
        if self._running(record, registry):
            raise BackendError(f"the trainer (pid {pid}) did not stop within {CANCEL_TIMEOUT:.0f} s; stop it by hand")

    def resume(self, record: RunRecord, registry: RunRegistry) -> None:
        """Continue from the newest checkpoint (or from the start when none was saved yet), with the run's
        `config.toml` as it is now: a run that ran out of memory can be resumed with a smaller batch."""
        _require_extra()
        from .run_config import ConfigError, load_run_config
        from .rundir import last_checkpoint

        if self._running(record, registry):
            return  # still training: the worker just follows it again
        folder = registry.folder(record.id)
        try:
            cfg, _ = load_run_config(folder / "config.toml")
        except ConfigError as exc:
            raise BackendError(str(exc)) from None
        checkpoint = last_checkpoint(folder)
        if checkpoint is None:
            registry.append(record.id, "events", {"type": "status", "message": "no checkpoint yet: starting over"})
        self._launch(cfg, record, registry, resume=checkpoint is not None)


BACKEND = LocalBackend()
