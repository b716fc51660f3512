"""Who started a run: proof, kept outside every workspace, that this user started it on this machine.

A repository can ship anything under `.tuneline/runs/`, including a `run.json` and a `request.json` that name any
file on the machine as the dataset. So nothing inside a run folder decides whether tuneline may start, resume,
recover or cancel a run. When `launch.start_run` records a run the user approved (pre-flight passed, cost
confirmed), it also writes `<state dir>/runs/<run id>.json`: the run folder's absolute path, the backend, a random
nonce, the sha256 of `request.json` as written, and the path and sha256 of each file to upload as pre-flight
checked it. The state directory is the user's own (`platformdirs.user_state_dir("tuneline")`, or
`TUNELINE_STATE_DIR` for tests, which must be absolute) and nothing from a repository is ever written there, so a
repository cannot forge a record. A run without a matching record is shown read-only as "not started here".

The nonce reaches the worker only through its environment (never a command line or a file in the run folder), so
a worker acts only on a run the launcher vouched for.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import os
import secrets
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from tuneline.fileio import atomic_write_text

from .runs import REQUEST_FILE, RunRecord, RunRegistry, now, read_small

STATE_ENV = "TUNELINE_STATE_DIR"
NONCE_ENV = "TUNELINE_RUN_NONCE"


class ProvenanceError(Exception):
    """The state directory is unusable: one sentence for the user."""


def state_dir() -> Path:
    """The user's own tuneline state folder (not created here)."""
    configured = os.environ.get(STATE_ENV)
    if configured:
        path = Path(configured).expanduser()
        if not path.is_absolute():
            raise ProvenanceError(f"{STATE_ENV} must be an absolute path, not {configured!r}")
        return path
    import platformdirs

    return Path(platformdirs.user_state_dir("tuneline"))


def ensure_state_dir() -> Path:
    """The state folder, created private to this user (0700) when missing."""
    path = state_dir()
    try:
        (path / "runs").mkdir(parents=True, exist_ok=True, mode=0o700)
        with contextlib.suppress(OSError):
            path.chmod(0o700)
            (path / "runs").chmod(0o700)
    except OSError as exc:
        raise ProvenanceError(f"cannot create tuneline's state folder {path} ({exc.strerror or exc})") from None
    return path


@dataclass
class Origin:
    """The state record of one run this user started here."""

    run_id: str
    folder: str
    backend: str
    nonce: str
    request_sha256: str
    dataset: dict[str, str]  # {path, sha256}: the file to upload, as pre-flight approved it
    validation: dict[str, str] | None
    created_at: str
    source: str  # cli | editor
    approval: str  # how the cost was confirmed: --yes, asked, editor, not needed

    def nonce_matches(self, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(str(value), self.nonce)


@dataclass
class Verdict:
    """Whether a run in a registry was started here: `origin` when it was, else `problem` (one sentence)."""

    origin: Origin | None
    problem: str | None

    @property
    def here(self) -> bool:
        return self.origin is not None and self.problem is None


def _record_path(run_id: str) -> Path:
    return state_dir() / "runs" / f"{run_id}.json"


def sha256_file(path: Path) -> str:
    """The sha256 of a file's bytes, read in 1 MB chunks: what a run record keeps of each file to upload (`launch`),
    and what approval (`check`) and evaluation compare it against, so all of them must hash the same way."""
    digest = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def remember(registry: RunRegistry, record: RunRecord, *, source: str, approval: str) -> Origin:
    """Record a run this user just approved, after its `request.json` is written and before its worker starts."""
    folder = registry.folder(record.id).resolve()
    request_bytes = (folder / REQUEST_FILE).read_bytes()
    request = json.loads(request_bytes)
    dataset = {"path": str(request["dataset"]), "sha256": str(record.dataset["sha256"])}
    validation = None
    if request.get("validation"):
        validation = {"path": str(request["validation"]), "sha256": str((record.validation or {})["sha256"])}
    origin = Origin(
        run_id=record.id,
        folder=str(folder),
        backend=record.backend,
        nonce=secrets.token_hex(32),
        request_sha256=_bytes_sha256(request_bytes),
        dataset=dataset,
        validation=validation,
        created_at=now(),
        source=source,
        approval=approval,
    )
    ensure_state_dir()
    path = _record_path(record.id)
    atomic_write_text(path, json.dumps(asdict(origin), indent=2) + "\n")
    with contextlib.suppress(OSError):
        path.chmod(0o600)
    return origin


def _bytes_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _load(run_id: str) -> Origin | None:
    try:
        data = json.loads(read_small(_record_path(run_id)))
        return Origin(**data)
    except (OSError, ValueError, TypeError):
        return None


def not_here(run_id: str) -> str:
    return (
        f"run {run_id} was not started here: tuneline on this machine has no record of starting it (a run folder "
        "from a repository, another machine or another user is shown read-only)"
    )


def check(registry: RunRegistry, run_id: str, backend: str | None = None) -> Verdict:
    """Was this run, in this folder, started by this user through tuneline, and is its request as approved?"""
    try:
        folder = registry.folder(run_id).resolve()
        origin = _load(run_id)
    except ProvenanceError as exc:
        return Verdict(None, str(exc))
    except (KeyError, OSError):
        return Verdict(None, not_here(run_id))
    if origin is None or origin.run_id != run_id:
        return Verdict(None, not_here(run_id))
    if origin.folder != str(folder):
        return Verdict(
            None,
            f"run {run_id} was started in {origin.folder}, not in {folder}; a copied or moved run folder is shown "
            "read-only",
        )
    if backend is None:
        with contextlib.suppress(KeyError, ValueError, TypeError):
            backend = registry.get(run_id).backend
    if backend != origin.backend:
        return Verdict(None, f"run {run_id}'s run.json names another backend than the one you approved")
    try:
        request_sha = _bytes_sha256(read_small(folder / REQUEST_FILE))
    except (OSError, ValueError):
        request_sha = ""
    if not hmac.compare_digest(request_sha, origin.request_sha256):
        return Verdict(None, f"run {run_id}'s request.json changed since you approved the run; start a new run")
    return Verdict(origin, None)


def started_here(registry: RunRegistry, run_id: str) -> bool:
    return check(registry, run_id).here


def verify_data(registry: RunRegistry, origin: Origin) -> str | None:
    """None when every file the run would upload (or train on) is the one approved, at the approved path, with the
    approved sha256; else one sentence."""
    try:
        request = json.loads(read_small(registry.folder(origin.run_id) / REQUEST_FILE))
        if not isinstance(request, dict):
            raise ValueError
    except (OSError, ValueError):
        return f"run {origin.run_id}'s request.json cannot be read; start a new run"
    for role, approved in (("dataset", origin.dataset), ("validation", origin.validation)):
        named = request.get(role)
        if approved is None:
            if named:
                return f"run {origin.run_id}'s request.json names a {role} file you did not approve; start a new run"
            continue
        if str(named) != approved["path"]:
            return f"run {origin.run_id}'s {role} is no longer {approved['path']}, the file you approved"
        try:
            digest = sha256_file(Path(approved["path"]))
        except OSError:
            return f"the {role} file {approved['path']} of run {origin.run_id} is gone; start a new run"
        if digest != approved["sha256"]:
            return (
                f"the {role} file {approved['path']} changed since you approved run {origin.run_id}; start a new "
                "run (`tuneline train`) to check and upload it as it is now"
            )
    return None


def origin_fields(registry: RunRegistry, record: RunRecord) -> dict[str, Any]:
    """What `tuneline.runs` and `tuneline runs list --json` add to each run.json object (docs/contracts.md)."""
    verdict = check(registry, record.id, record.backend)
    return {"startedHere": verdict.here, "origin": None if verdict.here else verdict.problem}
