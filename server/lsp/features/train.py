"""The language server's training commands: `tuneline.preflight`, `tuneline.train`, `tuneline.runs`,
`tuneline.cancelRun`, `tuneline.resumeRun` (docs/contracts.md).

The server only checks, starts, watches and cancels: training runs in a worker process of its own
(`tuneline.training.launch`), which outlives the editor. Only runs this user started here are ever recovered,
resumed or cancelled; `tuneline.runs` marks every other run `startedHere: false` and leaves it alone (a repository
can ship a `.tuneline/runs/` of its own). Imports `tuneline.training`'s light modules only (no SDK,
no torch). The "Train on this file…" code lens comes from `features/code_lens.py` once `tuneline.train` exists.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tuneline.fileio import FileRefused, open_regular
from tuneline.token_counters import anchored
from tuneline.training.backends.base import TrainRequest
from tuneline.training.backends.registry import DEFAULT as DEFAULT_BACKEND
from tuneline.training.backends.registry import NAMES as BACKENDS
from tuneline.training.backends.registry import unknown_backend
from tuneline.training.launch import (
    LaunchError,
    cancel_run,
    list_runs,
    project_root,
    recover,
    registry_for,
    resume_run,
    start_run,
)
from tuneline.training.liveness import settle
from tuneline.training.preflight import (
    Preflight,
    PreflightError,
    default_backend,
    render_markdown,
    run_preflight,
    verdict,
)
from tuneline.training.processes import safe_children
from tuneline.training.runs import RunRegistry

from ..documents import uri_to_path
from ..progress import WorkDone
from ..protocol import COMMAND_WORK_DONE_TOKEN

if TYPE_CHECKING:
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")
START = "Start training"


class CommandError(Exception):
    """Bad arguments or an unusable document: shown to the user as one sentence."""


def _options(args: tuple[Any, ...]) -> dict[str, Any]:
    value = args[0] if args else None
    if isinstance(value, str):
        value = {"uri": value}
    if not isinstance(value, dict) or not isinstance(value.get("uri"), str):
        raise CommandError("expected [{uri, backend, model?, epochs?, validationFile?, split?}]")
    return value


def _request(ls: TunelineServer, opts: dict[str, Any]) -> tuple[TrainRequest, str, float | None, Any]:
    uri = opts["uri"]
    path = uri_to_path(uri)
    if path is None:
        raise CommandError("only files on disk can be trained on: save the document first")
    settings = ls.settings_for(uri) if hasattr(ls, "settings_for") else None
    if settings is not None:  # an editor `tokenizer` folder is the workspace's, not the server's working folder
        settings = anchored(settings, ls.config.root if hasattr(ls, "config") else None)
    backend = opts.get("backend") or _target_backend(path, settings)
    if backend not in BACKENDS:
        raise CommandError(unknown_backend(backend))
    text = ls.documents.text(uri) if hasattr(ls, "documents") else None
    if text is not None and path.is_file() and _disk_text(path) != text:
        raise CommandError(f"{path.name} has unsaved changes: save it first, since training uploads the file on disk")
    validation = opts.get("validationFile")
    vpath = None
    if validation:
        vpath = uri_to_path(validation) if "://" in str(validation) else Path(validation)
        if vpath is not None and not vpath.is_absolute():
            vpath = path.parent / vpath
    split = opts.get("split")
    if split is not None and (isinstance(split, bool) or not isinstance(split, (int, float))):
        raise CommandError("split must be a number such as 0.1")
    try:  # the same checks and sentences as `tuneline train` (TrainRequest.from_options owns them)
        request = TrainRequest.from_options(
            path,
            model=opts.get("model"),
            validation=vpath,
            epochs=opts.get("epochs"),
            batch_size=opts.get("batchSize"),
            learning_rate_multiplier=opts.get("learningRateMultiplier"),
            learning_rate=opts.get("learningRate"),
            suffix=opts.get("suffix"),
            seed=opts.get("seed"),
            options=opts.get("options"),
            names=_CAMEL,
        )
    except ValueError as exc:
        raise CommandError(str(exc)) from None
    return request, backend, (float(split) if split is not None else None), settings


def _target_backend(path: Path, settings: Any) -> str:
    """No backend asked for (the code lens): the backend of the target the file is checked for."""
    if settings is None:
        return DEFAULT_BACKEND
    try:
        return default_backend(path, settings)
    except PreflightError as exc:
        raise CommandError(str(exc)) from None


_CAMEL = {
    "batch_size": "batchSize",
    "learning_rate_multiplier": "learningRateMultiplier",
    "learning_rate": "learningRate",
}


def _disk_text(path: Path) -> str | None:
    try:
        with open_regular(path) as fh:  # never a FIFO or a device named like a dataset
            return fh.read().decode("utf-8")
    except (OSError, UnicodeDecodeError, FileRefused):
        return None


async def _preflight(ls: TunelineServer, opts: dict[str, Any]) -> Preflight:
    request, backend, split, settings = _request(ls, opts)

    def work() -> Preflight:
        safe_children()  # a backend may check the file in a child process; the server's folder may be a repository
        return run_preflight(request, backend, split=split, seed=request.seed, settings=settings)

    scheduler = getattr(ls, "scheduler", None)
    if scheduler is not None:
        return await scheduler.run(work)
    return await asyncio.get_running_loop().run_in_executor(None, work)


def _registry(ls: TunelineServer, uri: str | None = None, runs_dir: str | None = None) -> RunRegistry:
    path = uri_to_path(uri) if uri else None
    return registry_for(project_root(path or ls.workspace_root or Path.cwd()), runs_dir)


def _failure(message: str) -> dict[str, Any]:
    return {
        "ok": False,
        "markdown": f"**Refused:** {message}",
        "costUsd": None,
        "examples": 0,
        "tokens": 0,
        "errors": [],
        "refused": message,
    }


def _question(pf: Preflight) -> str:
    plan = pf.plan
    assert plan is not None
    name = PurePosixPath(str(pf.analysis.path)).name
    held = f", {pf.validation_examples:,} held out for validation" if pf.validation_examples else ""
    return (
        f"Train {plan.model} on {name} with {pf.backend}: {plan.examples:,} examples{held}, {plan.tokens:,} tokens, "
        f"{plan.epochs} epochs. Estimated cost: {pf.cost_text()}. Start?"
    )


def register(server: TunelineServer) -> None:
    @server.command("tuneline.preflight")
    async def preflight_command(ls, *args: Any) -> dict[str, Any]:
        try:
            pf = await _preflight(ls, _options(args))
        except (CommandError, PreflightError) as exc:
            return _failure(str(exc))
        return pf.to_json()

    @server.command("tuneline.train")
    async def train_command(ls, *args: Any) -> dict[str, Any] | None:
        try:
            opts = _options(args)
            async with WorkDone(ls, "tuneline: pre-flight") as progress:
                progress.report("checking the file", 10)
                pf = await _preflight(ls, opts)
        except (CommandError, PreflightError) as exc:
            ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=f"Training refused: {exc}.")
            )
            return None
        if not pf.ok:
            first = "; ".join(f"{p.where()}: {p.code} {p.message}" for p in pf.errors[:3])
            text = verdict(pf) + (f" {first}" if first else "")
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=text))
            return None
        if opts.get("confirmed") is not True:
            answer = await ls.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Info,
                    message=_question(pf),
                    actions=[types.MessageActionItem(title=START), types.MessageActionItem(title="Cancel")],
                )
            )
            if answer is None or answer.title != START:
                return None
        registry = _registry(ls, opts["uri"], opts.get("runsDir"))
        approval = "editor" if opts.get("confirmed") is True else "asked"
        try:
            record = start_run(registry, pf, source="editor", approval=approval)
        except LaunchError as exc:
            ls.window_show_message(
                types.ShowMessageParams(type=types.MessageType.Error, message=f"Training not started: {exc}")
            )
            return None
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Info,
                message=f"Training run {record.id} started on {record.backend} ({record.model}).",
            )
        )
        _follow_in_background(ls, registry, record.id)
        return {"runId": record.id}

    @server.command("tuneline.runs")
    async def runs_command(ls, *args: Any) -> list[dict[str, Any]]:
        opts = args[0] if args and isinstance(args[0], dict) else {}
        registry = _registry(ls, opts.get("uri"), opts.get("runsDir"))
        loop = asyncio.get_running_loop()
        # off the event loop: recovery re-hashes the files a run has still to upload
        picked = await loop.run_in_executor(None, recover, registry)
        for run_id in picked:
            log.info("following run %s again", run_id)
            _follow_in_background(ls, registry, run_id)
        return await loop.run_in_executor(None, list_runs, registry)

    @server.command("tuneline.cancelRun")
    async def cancel_command(ls, *args: Any) -> dict[str, Any]:
        run_id, opts = _run_argument(args)
        registry = _registry(ls, opts.get("uri"), opts.get("runsDir"))
        try:
            status = cancel_run(registry, run_id)
        except LaunchError as exc:
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=str(exc)))
            return {"status": None, "error": str(exc)}
        for _ in range(100):  # up to ~10 s for the worker to confirm, without blocking the server
            try:
                record, stop = settle(registry, run_id)
            except (KeyError, ValueError):  # the folder went away or was replaced meanwhile
                break
            if stop:
                status = record.status
                break
            await asyncio.sleep(0.1)
        return {"status": status}

    @server.command("tuneline.resumeRun")
    async def resume_command(ls, *args: Any) -> dict[str, Any] | None:
        run_id, opts = _run_argument(args)
        registry = _registry(ls, opts.get("uri"), opts.get("runsDir"))
        try:
            resume_run(registry, run_id)
        except LaunchError as exc:
            ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=str(exc)))
            return None
        _follow_in_background(ls, registry, run_id)
        return {"runId": run_id}


def _run_argument(args: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    value = args[0] if args else None
    if isinstance(value, dict):
        return str(value.get("runId") or ""), value
    return str(value or ""), {}


_FOLLOWING: dict[str, asyncio.Task] = {}


def _follow_in_background(ls: TunelineServer, registry: RunRegistry, run_id: str) -> None:
    """Report a run's progress with work-done progress until it ends, then say how it ended."""
    task = _FOLLOWING.get(run_id)
    if task is not None and not task.done():
        return
    _FOLLOWING[run_id] = asyncio.get_running_loop().create_task(_follow(ls, registry, run_id))


async def _follow(ls: TunelineServer, registry: RunRegistry, run_id: str) -> None:
    COMMAND_WORK_DONE_TOKEN.set(None)  # this task outlives the command: use a token of our own
    from tuneline.training.watch import LIVENESS_SECONDS, describe, folder_changes

    try:  # woken by changes in the run folder (file notifications), and every few seconds to ask after the worker
        async with (
            WorkDone(ls, f"tuneline: training {run_id}") as progress,
            folder_changes(registry.folder(run_id)) as changed,
        ):
            last = ""
            asked = False
            while True:
                record, stop = settle(registry, run_id)  # a run whose worker is gone is recorded as stalled
                line = describe(record)
                if line != last:
                    p = record.progress or {}
                    pct = int(100 * p["step"] / p["total_steps"]) if p.get("step") and p.get("total_steps") else None
                    progress.report(line, pct)
                    last = line
                if stop:
                    break
                if progress.cancelled and not asked:
                    asked = True
                    await asyncio.get_running_loop().run_in_executor(None, cancel_run, registry, run_id)
                await changed(LIVENESS_SECONDS)
    except KeyError:
        return
    except Exception:
        log.exception("following run %s failed", run_id)
        return
    if record.status == "succeeded":
        kind, text = types.MessageType.Info, f"Training run {run_id} succeeded: {record.result_model}."
    elif record.status == "cancelled":
        kind, text = types.MessageType.Warning, f"Training run {run_id} was cancelled."
    elif record.status == "stalled":
        kind, text = types.MessageType.Warning, f"Training run {run_id} stalled: {record.error or 'no reason given'}"
    elif not record.finished:  # its folder changed under us: no longer a run tuneline may follow
        kind, text = types.MessageType.Warning, f"Stopped following training run {run_id}: its run folder changed."
    else:
        kind, text = types.MessageType.Error, f"Training run {run_id} failed: {record.error or 'no reason given'}"
    ls.window_show_message(types.ShowMessageParams(type=kind, message=text))


__all__ = ["register", "render_markdown"]
