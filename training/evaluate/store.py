"""An evaluation's folder: `eval/<eval-id>/` in the run's folder (or `.tuneline/evals/<eval-id>/` for a model
named on the command line).

| file | written | holds |
| --- | --- | --- |
| `eval.json` | once, atomically | what is evaluated: models, backend, held-out file and its sha256, settings |
| `items.jsonl` | once, atomically | the prompts and reference answers, as read from the held-out file |
| `results.jsonl` | one line per answer, appended | `{line, role, answer}` (role tuned, base) and `{line, role: judge, order, verdict}` |
| `summary.json` | at the end, atomically | the metrics (docs/eval.md), `complete` |

Each result line is one `write` call; a line cut short by a crash is dropped when the file is opened again, so an
interrupted evaluation resumes with exactly the answers it has. Nothing here is a secret: errors pass through the
redactor before they are written.

Which folders may be resumed is decided by a record in the user's own state folder (`<state>/evals/<eval-id>.json`:
the folder's path and a nonce), never by the folder itself: a repository can ship an `eval/` folder, and a process
started for an evaluation (the editor's) gets the nonce through its environment only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tuneline.fileio import atomic_write_text

from ..provenance import ProvenanceError, ensure_state_dir, state_dir
from ..redact import redact
from ..runs import open_regular, read_small
from .items import Item

SPEC_FILE = "eval.json"
ITEMS_FILE = "items.jsonl"
RESULTS_FILE = "results.jsonl"
SUMMARY_FILE = "summary.json"
NONCE_ENV = "TUNELINE_EVAL_NONCE"
MAX_RESULTS_BYTES = 512 * 1024**2


class StoreError(Exception):
    """The eval folder cannot be created or read: one sentence."""


def new_eval_id() -> str:
    stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%d-%H%M%S")
    return f"{stamp}-{secrets.token_hex(3)}"


def spec_key(spec: dict[str, Any]) -> str:
    """What makes two evaluations the same one (resumable into each other): models, file, settings."""
    keep = {k: spec.get(k) for k in ("target", "held_out_sha256", "limit", "max_tokens", "seed", "judge", "backend")}
    keep["models"] = [spec.get("model"), spec.get("base")]
    return hashlib.sha256(json.dumps(keep, sort_keys=True, default=str).encode()).hexdigest()


def _record_path(eval_id: str) -> Path:
    return state_dir() / "evals" / f"{eval_id}.json"


def remember(folder: Path) -> str:
    """Record an eval folder this user created (returns its nonce)."""
    nonce = secrets.token_hex(32)
    ensure_state_dir()
    path = _record_path(folder.name)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    atomic_write_text(path, json.dumps({"folder": str(folder.resolve()), "nonce": nonce}) + "\n")
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return nonce


def recorded(folder: Path, nonce: str | None = None) -> bool:
    """Did this user create `folder` through tuneline (and, when given, is `nonce` its nonce)?"""
    try:
        data = json.loads(read_small(_record_path(folder.name)))
        resolved = str(folder.resolve())
    except (OSError, ValueError, ProvenanceError):
        return False
    if not isinstance(data, dict) or data.get("folder") != resolved:
        return False
    return nonce is None or hmac.compare_digest(str(data.get("nonce", "")), str(nonce))


def nonce_of(folder: Path) -> str | None:
    try:
        data = json.loads(read_small(_record_path(folder.name)))
    except (OSError, ValueError, ProvenanceError):
        return None
    return data.get("nonce") if isinstance(data, dict) and data.get("folder") == str(folder.resolve()) else None


def create(root: Path, spec: dict[str, Any], items: list[Item]) -> Path:
    """A new eval folder under `root` with its spec and items, recorded as this user's."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        folder = root / new_eval_id()
        folder.mkdir()
        spec = {**spec, "id": folder.name, "key": spec_key(spec)}
        atomic_write_text(
            folder / ITEMS_FILE, "".join(json.dumps(i.to_json(), ensure_ascii=False) + "\n" for i in items)
        )
        atomic_write_text(folder / SPEC_FILE, json.dumps(spec, indent=2, ensure_ascii=False) + "\n")
        remember(folder)
    except (OSError, ProvenanceError) as exc:
        raise StoreError(
            f"cannot create the evaluation folder under {root} ({getattr(exc, 'strerror', None) or exc})"
        ) from None
    return folder


def read_spec(folder: Path) -> dict[str, Any]:
    try:
        data = json.loads(read_small(folder / SPEC_FILE))
    except (OSError, ValueError) as exc:
        raise StoreError(f"{folder / SPEC_FILE} cannot be read ({exc})") from None
    if not isinstance(data, dict):
        raise StoreError(f"{folder / SPEC_FILE} does not hold an object")
    return data


def read_items(folder: Path) -> list[Item]:
    out = []
    for data in _jsonl(folder / ITEMS_FILE):
        try:
            out.append(Item.from_json(data))
        except (KeyError, TypeError, ValueError):
            raise StoreError(f"{folder / ITEMS_FILE} holds an item tuneline did not write") from None
    return out


def _jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The whole lines of a JSONL file tuneline wrote (a line being written, or cut by a crash, is skipped)."""
    try:
        fd = open_regular(path, MAX_RESULTS_BYTES)
    except FileNotFoundError:
        return
    except (OSError, ValueError) as exc:
        raise StoreError(f"{path} cannot be read ({exc})") from None
    with open(fd, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            if not line.endswith("\n"):
                continue
            try:
                value = json.loads(line)
            except (ValueError, RecursionError):
                continue
            if isinstance(value, dict):
                yield value


def read_results(folder: Path) -> list[dict[str, Any]]:
    """Every result line, in order (a later line for the same answer replaces an earlier one when read)."""
    return list(_jsonl(folder / RESULTS_FILE))


def read_summary(folder: Path) -> dict[str, Any] | None:
    try:
        data = json.loads(read_small(folder / SUMMARY_FILE))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_summary(folder: Path, summary: dict[str, Any]) -> None:
    atomic_write_text(folder / SUMMARY_FILE, json.dumps(summary, indent=2, ensure_ascii=False) + "\n")


def answered(results: list[dict[str, Any]]) -> dict[str, set[int]]:
    """role → lines with a good answer already in `results` (the judge: lines judged in both orders)."""
    done: dict[str, set[int]] = {"tuned": set(), "base": set()}
    orders: dict[int, set[str]] = {}
    for r in results:
        line, role = r.get("line"), r.get("role")
        if not isinstance(line, int):
            continue
        if role in ("tuned", "base"):
            answer = r.get("answer")
            if isinstance(answer, dict) and answer.get("error") is None:
                done[role].add(line)
            else:
                done[role].discard(line)
        elif role == "judge" and isinstance(r.get("order"), str) and r.get("verdict") is not None:
            orders.setdefault(line, set()).add(r["order"])
    done["judge"] = {line for line, seen in orders.items() if len(seen) == 2}
    return done


def progress_count(folder: Path) -> int:
    """Answers (and judge verdicts, two per example) already in `folder`: the progress to report."""
    done = answered(read_results(folder))
    return len(done["tuned"]) + len(done["base"]) + 2 * len(done.get("judge", ()))


def find_resumable(root: Path, key: str) -> Path | None:
    """The newest unfinished eval folder under `root` for the same evaluation, created by this user."""
    if not root.is_dir():
        return None
    for folder in sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.name, reverse=True):
        summary = read_summary(folder)
        if summary is not None and summary.get("complete"):
            continue
        try:
            spec = read_spec(folder)
        except StoreError:
            continue
        if spec.get("key") == key and recorded(folder):
            return folder
    return None


def latest(root: Path) -> Path | None:
    """The newest eval folder under `root` that has a summary."""
    if not root.is_dir():
        return None
    done = [p for p in root.iterdir() if p.is_dir() and (p / SUMMARY_FILE).is_file()]
    return max(done, key=lambda p: p.name) if done else None


@dataclass
class Results:
    """Appends result lines for one eval folder (thread-safe: the hosted runner answers concurrently)."""

    folder: Path

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        path = self.folder / RESULTS_FILE
        self._trim(path)
        self._fh = path.open("a", encoding="utf-8")

    @staticmethod
    def _trim(path: Path) -> None:
        """Drop a last line cut short by a crash, so the next line does not glue onto it."""
        try:
            with path.open("rb+") as fh:
                data = fh.read()
                if data and not data.endswith(b"\n"):
                    fh.truncate(data.rfind(b"\n") + 1)
        except FileNotFoundError:
            return

    def add(self, item: dict[str, Any]) -> None:
        line = redact(json.dumps(item, ensure_ascii=False)) + "\n"
        with self._lock:
            self._fh.write(line)
            self._fh.flush()
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        with self._lock:
            self._fh.close()
