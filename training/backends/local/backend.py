"""The local backend: QLoRA (or plain LoRA on CPU) with transformers + peft + TRL on the user's own hardware.

`prepare` checks everything before a model loads (plan.py, run in plan_child.py's process): the device (no CUDA
→ one sentence, unless `--device cpu`), the model on disk, the data (method, tokens, over-long examples,
chat-template markers) and a memory estimate. `start` writes the run's `config.toml` and launches the trainer child (`python -m …local.trainer`,
or `accelerate launch` for several GPUs) in its own session; `poll` follows its `trainer.json` (rundir.py);
`cancel` sends it SIGTERM (checkpoint, then exit); `resume` relaunches it from the newest checkpoint.

This module stays light: torch and friends are imported inside the methods that need them.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ...processes import child_env, neutral_cwd, pid_alive
from ...runs import TERMINAL, RunRecord, RunRegistry
from ..base import Backend, BackendError, TrainRequest, Update
from .hardware import TRAINER_MODULE
from .options import resolve
from .plan import LocalPlan, plan_request
from .rundir import STATE_FILE, last_checkpoint, read_state

if TYPE_CHECKING:
    from .run_config import LocalConfig

CANCEL_TIMEOUT = 600.0  # seconds to wait for the checkpoint a cancel asks for (a large model saves slowly)


def _require_extra() -> None:
    """The 'local' extra's packages are installed (found, not imported: this runs in light processes)."""
    import importlib.util

    for name in ("pydantic", "torch", "transformers", "trl", "peft", "datasets"):
        if importlib.util.find_spec(name) is None:
            raise BackendError(
                f"the local backend needs the 'local' extra: pip install 'tuneline[local]' ({name} is missing)"
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
        from .plan_child import plan_in_child  # imported here: `python -m` of that module must find it unloaded

        return plan_in_child(request)

    def token_counter(self, model: str) -> Any:
        """The trained-token counter of `tuneline check --target local:PATH` (token_counts.py): the model's own
        tokenizer, offline; loads transformers, so only a local target asks for it."""
        from .token_counts import load_counter

        return load_counter(model)

    def template_counter(self, tokenizer: str, hub_only: bool = False) -> Any:
        """The full-length counter of an open model at a hosted provider (token_counts.py): its family's tokenizer
        from a folder or the Hugging Face cache, offline; `hub_only`: a repo id from the model table, cache only."""
        from .token_counts import load_template_counter

        return load_template_counter(tokenizer, hub_only=hub_only)

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

        folder = registry.folder(record.id).resolve()
        cmd = launch_command(cfg, folder, resume=resume)
        # Until the child writes its own state, the previous run's (cancelled, failed) must not be read as final.
        state = {**read_state(folder), "status": "starting", "phase": "starting", "error": None, "updated_at": now()}
        atomic_write_text(folder / STATE_FILE, json.dumps(state, indent=2) + "\n")
        # Safe path mode and a working folder no repository controls: the run folder may sit in a repository.
        env = child_env(PYTHONUNBUFFERED="1", TOKENIZERS_PARALLELISM="false")
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
                cwd=str(neutral_cwd()),
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
        from .run_config import RunConfigError, load_run_config

        if self._running(record, registry):
            return  # still training: the worker just follows it again
        folder = registry.folder(record.id)
        try:
            cfg, _ = load_run_config(folder / "config.toml")
        except RunConfigError as exc:
            raise BackendError(str(exc)) from None
        checkpoint = last_checkpoint(folder)
        if checkpoint is None:
            registry.append(record.id, "events", {"type": "status", "message": "no checkpoint yet: starting over"})
        self._launch(cfg, record, registry, resume=checkpoint is not None)


BACKEND = LocalBackend()
