"""The run registry: one folder per run under `<project>/.tuneline/runs/`, the single source of truth about runs.

Every process (the CLI, the language server, the training child, the VS Code extension) reads and writes the same
files, so a run survives editor restarts. `run.json` is always replaced atomically; `events.jsonl` and
`metrics.jsonl` are append-only. Nothing secret is ever written here.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets as _random
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..fileio import atomic_write_text
from .redact import redact

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
STATUSES = ("created", "validating", "queued", "running", *sorted(TERMINAL))
DEFAULT_ROOT = Path(".tuneline") / "runs"


def now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


@dataclass
class RunRecord:
    """What `run.json` holds. See docs/contracts.md; unknown keys read from disk are kept in `extra`."""

    id: str
    backend: str
    model: str
    status: str = "created"
    created_at: str = field(default_factory=now)
    updated_at: str = field(default_factory=now)
    dataset: dict[str, Any] = field(default_factory=dict)
    validation: dict[str, Any] | None = None
    hyperparameters: dict[str, Any] = field(default_factory=dict)
    remote: dict[str, Any] | None = None
    result_model: str | None = None
    cost_estimate_usd: float | None = None
    progress: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    pid: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.status in TERMINAL

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        fields_ = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        return cls(**fields_, extra=extra)


def new_run_id(backend: str) -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{backend}-{_random.token_hex(3)}"


class RunRegistry:
    """Runs under `root` (default `<project>/.tuneline/runs`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    @classmethod
    def for_project(cls, project: Path, configured: str | None = None) -> RunRegistry:
        root = Path(configured) if configured else DEFAULT_ROOT
        return cls(root if root.is_absolute() else Path(project) / root)

    def folder(self, run_id: str) -> Path:
        if not run_id or "/" in run_id or run_id.startswith("."):
            raise KeyError(run_id)
        return self.root / run_id

    def create(self, record: RunRecord) -> RunRecord:
        folder = self.folder(record.id)
        folder.mkdir(parents=True, exist_ok=False)
        self.save(record)
        return record

    def save(self, record: RunRecord) -> None:
        record.updated_at = now()
        text = redact(json.dumps(record.to_json(), indent=2, ensure_ascii=False))  # belt and braces: never a key
        atomic_write_text(self.folder(record.id) / "run.json", text + "\n")

    def get(self, run_id: str) -> RunRecord:
        path = self.folder(run_id) / "run.json"
        try:
            return RunRecord.from_json(json.loads(path.read_text(encoding="utf-8")))
        except FileNotFoundError:
            raise KeyError(run_id) from None

    def update(self, run_id: str, **changes: Any) -> RunRecord:
        record = self.get(run_id)
        for key, value in changes.items():
            setattr(record, key, value)
        self.save(record)
        return record

    def list(self) -> list[RunRecord]:
        """Newest first; folders without a readable run.json are skipped."""
        if not self.root.is_dir():
            return []
        out = []
        for folder in self.root.iterdir():
            if folder.is_dir() and not folder.name.startswith("."):
                try:
                    out.append(self.get(folder.name))
                except (KeyError, ValueError, TypeError):
                    continue
        return sorted(out, key=lambda r: r.created_at, reverse=True)

    def append(self, run_id: str, stream: str, item: dict[str, Any]) -> None:
        """Append one JSON object to `events.jsonl` or `metrics.jsonl` (one write call: lines stay whole)."""
        if stream not in ("events", "metrics"):
            raise ValueError(stream)
        line = redact(json.dumps({"time": now(), **item}, ensure_ascii=False)) + "\n"
        with (self.folder(run_id) / f"{stream}.jsonl").open("a", encoding="utf-8") as fh:
            fh.write(line)

    def read(self, run_id: str, stream: str) -> Iterator[dict[str, Any]]:
        path = self.folder(run_id) / f"{stream}.jsonl"
        if not path.exists():
            return
        with path.open(encoding="utf-8") as fh:
            for line in fh:
                if line.endswith("\n"):  # a line still being written is skipped until it is whole
                    try:
                        yield json.loads(line)
                    except ValueError:
                        continue
