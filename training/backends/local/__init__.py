"""The local backend: QLoRA (or plain LoRA on CPU) with transformers + peft + TRL on the user's own hardware.

The modules, in the order a run meets them:

- `options.py`: a training request → the run's settings (`run_config.py`: `LocalConfig`, its TOML file);
- `plan.py`: the pre-flight (run in `plan_child.py`'s process), built on `data.prepare` (the same pipeline the trainer uses),
  `hardware.py` (device, memory estimate, launch command) and `loading.py` (model and tokenizer);
- `backend.py`: `LocalBackend`, which starts, follows, cancels and resumes the trainer child;
- `trainer.py`: the child itself, reporting through `rundir.py` (with `callbacks.py` and `evaluation.py`).

Importing this package stays light: torch and friends load only inside the functions that need them.
"""

from __future__ import annotations

from .backend import BACKEND, LocalBackend
from .options import config_for, resolve
from .plan import LocalPlan, plan_request

__all__ = ["BACKEND", "LocalBackend", "LocalPlan", "config_for", "plan_request", "resolve"]
