"""A local run's folder as the trainer leaves it: `trainer.json` (its state), `events.jsonl`, `metrics.jsonl` and
`checkpoints/`.

Both sides use this module: the trainer child writes through `RunFolder`, the backend in the worker reads with
`read_state` and `last_checkpoint`. It imports nothing heavy, and nothing from the trainer, so the callbacks and the
evaluation can report progress without knowing the `Job` that drives them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...runs import RunRegistry, atomic_write_text, now

STATE_FILE = "trainer.json"
CHECKPOINTS = "checkpoints"
ADAPTER = "adapter"
MERGED = "merged"


def read_state(folder: Path) -> dict[str, Any]:
    """The trainer's last written state; empty before it wrote one (or when it is unreadable)."""
    try:
        return json.loads((Path(folder) / STATE_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def last_checkpoint(folder: Path) -> Path | None:
    """The newest `checkpoint-N` that holds a trainer state (a half-written one is skipped)."""
    root = Path(folder) / CHECKPOINTS
    found = []
    for path in root.glob("checkpoint-*") if root.is_dir() else []:
        suffix = path.name.rsplit("-", 1)[-1]
        if suffix.isdigit() and (path / "trainer_state.json").exists():
            found.append((int(suffix), path))
    return max(found)[1] if found else None


class RunFolder:
    """What one trainer process reports about its run. Only the main process writes (with several GPUs every rank
    runs the same code); the others keep their state in memory."""

    def __init__(self, folder: Path, main_process: bool = True) -> None:
        self.path = Path(folder).resolve()
        self.registry = RunRegistry(self.path.parent)
        self.run_id = self.path.name
        self.main_process = main_process
        self.state: dict[str, Any] = {}
        self.step = 0  # the last optimizer step reached: an out-of-memory message names it

    def set_state(self, **changes: Any) -> None:
        """Update `trainer.json` (replaced atomically: the worker reads it while it is written)."""
        if not self.main_process:
            return
        self.state.update(changes, updated_at=now())
        atomic_write_text(self.path / STATE_FILE, json.dumps(self.state, indent=2) + "\n")

    def progress(self, step: int, total_steps: int, epoch: float) -> None:
        self.step = step
        self.set_state(step=step, total_steps=total_steps, epoch=epoch)

    def event(self, kind: str, message: str, **data: Any) -> None:
        if self.main_process:
            self.registry.append(self.run_id, "events", {"type": kind, "message": message, **data})

    def metric(self, item: dict[str, Any]) -> None:
        if self.main_process:
            self.registry.append(self.run_id, "metrics", item)

    def metrics(self) -> list[dict[str, Any]]:
        return list(self.registry.read(self.run_id, "metrics"))
