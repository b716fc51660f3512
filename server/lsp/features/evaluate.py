"""The editor's evaluation commands (docs/eval.md): `tuneline.evaluate` (evaluate a run: plan, ask, run,
report) and `tuneline.evalReport` (the newest stored evaluation of a run, as data and as an HTML page).

The server plans (light: the analysis engine and the run files) and asks, with the cost in the question, through
`window/showMessageRequest`; the requests themselves go out from a process of their own
(`python -m tuneline.training.evaluate.runner`, safe path mode, neutral working folder, the eval folder's nonce in
its environment), because the server never loads a provider SDK or torch. Progress is work-done progress (cancel
stops the process; what was answered is kept, and evaluating again resumes). Only runs this user started here are
evaluated or shown.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tuneline.training.evaluate import report, store
from tuneline.training.evaluate.local import child_start
from tuneline.training.evaluate.plan import EvalError, EvalRequest, find_run, make_plan, prepare
from tuneline.training.evaluate.runner import STATUS_FILE, read_status
from tuneline.training.evaluate.show import contract_of, latest_for_run
from tuneline.training.evaluate.store import progress_count
from tuneline.training.launch import project_root, registry_for
from tuneline.training.processes import child_env, python_command, safe_children

from ..documents import uri_to_path
from ..progress import WorkDone

if TYPE_CHECKING:
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")
EVALUATE = "Evaluate"
RUNNER = "tuneline.training.evaluate.runner"
POLL = 0.3


def _options(args: tuple[Any, ...]) -> dict[str, Any]:
    value = args[0] if args else None
    if isinstance(value, str):
        value = {"runId": value}
    if not isinstance(value, dict) or not isinstance(value.get("runId"), str) or not value["runId"]:
        raise EvalError(
            "expected [{runId, on?, base?, limit?, judge?, judgeBackend?, maxTokens?, confirmed?, dryRun?}]"
        )
    return value


def _whole(value: Any, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise EvalError(f"{name} must be a whole number, not {value!r}")
    return value


def _text(value: Any, name: str) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise EvalError(f"{name} must be text, not {value!r}")
    return value


def _cwd(ls: TunelineServer, opts: dict[str, Any]) -> Path:
    path = uri_to_path(opts["uri"]) if isinstance(opts.get("uri"), str) else None
    return project_root(path or ls.workspace_root or Path.cwd())


def _request(ls: TunelineServer, opts: dict[str, Any]) -> EvalRequest:
    on = _text(opts.get("on"), "on")
    on_path = (uri_to_path(on) if "://" in on else Path(on)) if on else None
    return EvalRequest(
        target=opts["runId"],
        on=on_path,
        base=_text(opts.get("base"), "base"),
        limit=_whole(opts.get("limit"), "limit"),
        judge=_text(opts.get("judge"), "judge"),
        judge_backend=_text(opts.get("judgeBackend"), "judgeBackend"),
        max_tokens=_whole(opts.get("maxTokens"), "maxTokens"),
        runs_dir=_text(opts.get("runsDir"), "runsDir"),
        cwd=_cwd(ls, opts),
    )


def _refused(ls: TunelineServer, message: str) -> dict[str, Any]:
    ls.window_show_message(types.ShowMessageParams(type=types.MessageType.Error, message=f"Evaluation: {message}"))
    return {"ok": False, "refused": message}


def _result(folder: Path, contract: dict[str, Any], with_html: bool = True) -> dict[str, Any]:
    out = {"ok": True, "eval": contract["eval"], "folder": str(folder), "summary": report.summary_of(contract)}
    if with_html:
        out["html"] = report.render_html(contract)
    return out


def _start(folder: Path) -> subprocess.Popen:
    nonce, cwd = child_start(folder)
    (folder / STATUS_FILE).unlink(missing_ok=True)
    with (folder / "runner.log").open("ab") as log_file:
        return subprocess.Popen(
            python_command(RUNNER, str(folder.resolve())),
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=str(cwd),
            env=child_env({**os.environ, "PYTHONUNBUFFERED": "1", store.NONCE_ENV: nonce}),
            start_new_session=True,
            close_fds=True,
        )


def _stop(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGTERM)


async def _follow(ls: TunelineServer, proc: subprocess.Popen, folder: Path, total: int, title: str) -> None:
    async with WorkDone(ls, title) as progress:
        last = -1
        while proc.poll() is None:
            if progress.cancelled:
                _stop(proc)
            count = await asyncio.get_running_loop().run_in_executor(None, progress_count, folder)
            if count != last:
                last = count
                progress.report(f"{count} of {total} answers", int(100 * count / total) if total else None)
            await asyncio.sleep(POLL)


def register(server: TunelineServer) -> None:
    @server.command("tuneline.evaluate")
    async def evaluate_command(ls, *args: Any) -> dict[str, Any] | None:
        loop = asyncio.get_running_loop()
        try:
            opts = _options(args)
            request = _request(ls, opts)
            safe_children()
            plan = await loop.run_in_executor(None, make_plan, request)
        except EvalError as exc:
            return _refused(ls, str(exc))
        if opts.get("dryRun") is True:  # the plan and its cost, for a client that asks in its own way
            return {"ok": True, "plan": plan.summary_json()}
        if plan.needs_confirmation and opts.get("confirmed") is not True:
            answer = await ls.window_show_message_request_async(
                types.ShowMessageRequestParams(
                    type=types.MessageType.Info,
                    message=(
                        f"Evaluate {plan.spec['model']} against {plan.spec['base']} on {len(plan.held_out.items)} "
                        f"held-out examples: {plan.estimate.requests} requests, estimated cost "
                        f"{plan.estimate.cost_text()}. Start?"
                    ),
                    actions=[types.MessageActionItem(title=EVALUATE), types.MessageActionItem(title="Cancel")],
                )
            )
            if answer is None or answer.title != EVALUATE:
                return None
        try:
            folder = await loop.run_in_executor(None, prepare, plan)
            proc = _start(folder)
        except (EvalError, OSError) as exc:
            return _refused(ls, str(exc))
        total = len(plan.held_out.items) * (4 if plan.spec.get("judge") else 2)
        try:
            await _follow(ls, proc, folder, total, f"tuneline: evaluating {plan.spec['target']['text']}")
        except asyncio.CancelledError:
            _stop(proc)
            raise
        await loop.run_in_executor(None, proc.wait)
        status = read_status(folder)
        if status.get("status") == "failed" or proc.returncode != 0:
            message = status.get("error") or f"the evaluation process ended with exit code {proc.returncode}"
            return {**_refused(ls, message), "folder": str(folder)}
        contract = await loop.run_in_executor(None, contract_of, folder)
        worse = contract.get("worse", 0)
        ls.window_show_message(
            types.ShowMessageParams(
                type=types.MessageType.Info,
                message=f"Evaluation {contract['eval']} finished: the tuned model is worse than the base model on "
                f"{worse} of {contract['examples']} examples.",
            )
        )
        return _result(folder, contract, opts.get("html", True) is not False)

    @server.command("tuneline.evalReport")
    async def report_command(ls, *args: Any) -> dict[str, Any]:
        try:
            opts = _options(args)
            registry = registry_for(_cwd(ls, opts), _text(opts.get("runsDir"), "runsDir"))

            def load() -> tuple[Path, dict[str, Any]]:
                folder = latest_for_run(registry, find_run(registry, opts["runId"]) or opts["runId"])
                return folder, contract_of(folder)

            folder, contract = await asyncio.get_running_loop().run_in_executor(None, load)
        except (EvalError, store.StoreError) as exc:
            return {"ok": False, "refused": str(exc)}
        out = _result(folder, contract)
        out["contract"] = contract
        return out
