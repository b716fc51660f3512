"""The run registry: one folder per run under `<project>/.tuneline/runs/`, the single source of truth about runs.

Every process (the CLI, the language server, the training child, the VS Code extension) reads and writes the same
files, so a run survives editor restarts. `run.json` is always replaced atomically; `events.jsonl` and
`metrics.jsonl` are append-only. Nothing secret is ever written here.

A repository can ship a `.tuneline/runs/` of its own, so everything read here is untrusted input: a FIFO or a device
is refused instead of read (no hang), `run.json` is size-capped and type-checked, and its `id` must be its folder's
name. Whether a run may be acted on is decided elsewhere (`provenance`), never by these files.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets as _random
import stat
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from tuneline.fileio import atomic_write_text

from .redact import redact

TERMINAL = frozenset({"succeeded", "failed", "cancelled"})
# Not terminal: the worker is gone but the run could go on (`tuneline runs resume ID`); followers stop at it.
STALLED = "stalled"
STATUSES = ("created", "validating", "queued", "running", STALLED, *sorted(TERMINAL))
DEFAULT_ROOT = Path(".tuneline") / "runs"

# Files in a run folder besides run.json, events.jsonl and metrics.jsonl (coordination between processes).
REQUEST_FILE = "request.json"
CANCEL_FILE = "cancel.request"
LOCK_FILE = "worker.lock"
STARTING_FILE = "worker.starting"  # written by the launcher, removed once the worker holds the lock


MAX_RECORD_BYTES = 16 * 1024 * 1024  # run.json, request.json, worker.starting: a few kilobytes when tuneline wrote them


def open_regular(path: Path, limit: int | None = None) -> int:
    """A descriptor for reading `path` if it is a regular file (of at most `limit` bytes). A FIFO, a device or a
    socket raises ValueError instead of blocking; a missing file raises FileNotFoundError."""
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path} is not a regular file")
        if limit is not None and info.st_size > limit:
            raise ValueError(f"{path} is larger than {limit} bytes")
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_small(path: Path, limit: int = MAX_RECORD_BYTES) -> bytes:
    """The bytes of a small regular file (see `open_regular`)."""
    with os.fdopen(open_regular(path, limit), "rb") as fh:
        data = fh.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"{path} is larger than {limit} bytes")
    return data


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

    @property
    def stopped(self) -> bool:
        """Nothing more will happen without the user: finished, or stalled (followers stop at either)."""
        return self.status in TERMINAL or self.status == STALLED

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        extra = data.pop("extra")
        return {**extra, **data}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunRecord:
        """A record from run.json; ValueError when a field has the wrong type (a run.json not written by us)."""
        if not isinstance(data, dict):
            raise ValueError("run.json does not hold an object")
        known = {f for f in cls.__dataclass_fields__ if f != "extra"}
        fields_ = {k: v for k, v in data.items() if k in known}
        extra = {k: v for k, v in data.items() if k not in known}
        for name, kinds in _TYPES.items():
            value = fields_.get(name)
            if name in fields_ and not (isinstance(value, kinds) and not isinstance(value, bool)):
                if value is None and name in _DEFAULT_EMPTY:
                    fields_[name] = {}
                    continue
                raise ValueError(f"run.json's {name} has the wrong type")
        if "id" not in fields_ or "backend" not in fields_ or "model" not in fields_:
            raise ValueError("run.json lacks id, backend or model")
        return cls(**fields_, extra=extra)


_NONE = type(None)
_TYPES: dict[str, tuple[type, ...]] = {
    "id": (str,),
    "backend": (str,),
    "model": (str,),
    "status": (str,),
    "created_at": (str,),
    "updated_at": (str,),
    "dataset": (dict,),
    "validation": (dict, _NONE),
    "hyperparameters": (dict,),
    "remote": (dict, _NONE),
    "result_model": (str, _NONE),
    "cost_estimate_usd": (int, float, _NONE),
    "progress": (dict,),
    "error": (str, _NONE),
    "pid": (int, _NONE),
}
_DEFAULT_EMPTY = frozenset({"dataset", "hyperparameters", "progress"})


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
        """KeyError when there is no run.json; ValueError when it is not one tuneline could have written."""
        path = self.folder(run_id) / "run.json"
        try:
            record = RunRecord.from_json(json.loads(read_small(path)))
        except (FileNotFoundError, NotADirectoryError):
            raise KeyError(run_id) from None
        except (OSError, RecursionError) as exc:
            raise ValueError(f"{path} cannot be read ({exc})") from None
        if record.id != run_id:
            raise ValueError(f"{path} names another run ({record.id!r})")
        return record

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
        """The objects of `events.jsonl` or `metrics.jsonl`; anything else (a FIFO, a broken line) is skipped."""
        path = self.folder(run_id) / f"{stream}.jsonl"
        try:
            fd = open_regular(path)
        except (OSError, ValueError):
            return
        with open(fd, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.endswith("\n"):  # a line still being written is skipped until it is whole
                    try:
                        item = json.loads(line)
                    except (ValueError, RecursionError):
                        continue
                    if isinstance(item, dict):
                        yield item
