""" "Ask the tuned model": a code lens on each example of an open held-out file, and the command behind it
(`tuneline.askTuned`, docs/eval.md), which sends that example's prompt to the tuned model once and returns the
answer beside the reference.

A file is held out for a run when the user's own state record of a run started here (training/provenance.py) names
it as the run's validation file, or as the part `--split` held out, and the run has succeeded with a hosted model.
A repository cannot make a file look held out: `run.json` is never trusted for this, and the run must pass
`provenance.check` on every click. The lens only appears; nothing is sent until the user clicks it, and then
exactly one chat completion goes out (no retry: a rate limit or a server error is reported, and clicking again asks
again). The training gate (trust.py) refuses the command in an untrusted workspace, and no lens is shown there.

The request goes out from a short-lived child process (`python -P -m tuneline.lsp.features.ask_tuned`, neutral
working folder, the prompt on its stdin, never its command line), because the server never loads a provider SDK:
the child uses the evaluation's own client (`training/evaluate/hosted.Endpoint`: the backend's SDK, key variable
and endpoint options from the run's approved request). The result is returned; with `show` (default) it is also
shown as a message, for editors without a panel of their own (VS Code passes `show: false` and opens a side panel).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lsprotocol import types

from tuneline.training import provenance
from tuneline.training.evaluate.items import Item, Skipped, item_of
from tuneline.training.evaluate.plan import request_options
from tuneline.training.launch import key_problem
from tuneline.training.processes import child_env, neutral_cwd, python_command
from tuneline.training.runs import RunRegistry, read_small

from ..documents import uri_to_path

if TYPE_CHECKING:
    from ..server import TunelineServer

log = logging.getLogger("tuneline.lsp")
ASK = "tuneline.askTuned"
TITLE = "Ask the tuned model"
CHILD = "tuneline.lsp.features.ask_tuned"
MAX_LENSES = 2000  # a held-out file is small; past this many examples the rest get no lens
CACHE_SECONDS = 3.0  # code lenses are asked for after every edit: the state records are read at most this often
MAX_TOKENS = 512
SEED = 42
SHOWN_CHARS = 1500  # per answer in a message


class AskError(Exception):
    """The example cannot be asked: one sentence."""


@dataclass
class HeldOutRun:
    """A finished hosted run started here whose held-out file is the document."""

    run_id: str
    backend: str
    model: str
    base: str
    options: dict[str, Any]
    created_at: str


def _origins() -> list[provenance.Origin]:
    """The user's own records of runs started here (the state folder; nothing a repository can write)."""
    try:
        folder = provenance.state_dir() / "runs"
        paths = sorted(folder.glob("*.json")) if folder.is_dir() else []
    except (provenance.ProvenanceError, OSError):
        return []
    out = []
    for path in paths:
        try:
            out.append(provenance.Origin(**json.loads(read_small(path))))
        except (OSError, ValueError, TypeError):
            continue
    return out


def run_for(path: Path) -> HeldOutRun | None:
    """The newest finished hosted run started here that holds `path` out (its validation file or its split part)."""
    try:
        target = path.resolve()
    except (OSError, RuntimeError):
        return None
    found: list[HeldOutRun] = []
    for origin in _origins():
        named = (origin.validation or {}).get("path")
        if not named or origin.backend == "local":
            continue
        try:
            if Path(named).resolve() != target:
                continue
        except (OSError, RuntimeError):
            continue
        registry = RunRegistry(Path(origin.folder).parent)
        if not provenance.check(registry, origin.run_id).here:
            continue
        try:
            record = registry.get(origin.run_id)
        except (KeyError, ValueError, TypeError, OSError):
            continue
        if record.status != "succeeded" or not record.result_model:
            continue
        found.append(
            HeldOutRun(
                record.id,
                record.backend,
                record.result_model,
                record.model,
                request_options(registry, record.id),
                record.created_at,
            )
        )
    return max(found, key=lambda r: r.created_at) if found else None


class _Cache:
    """`run_for` per path, kept a few seconds (code lenses are asked for after every edit)."""

    def __init__(self) -> None:
        self.entries: dict[Path, tuple[float, HeldOutRun | None]] = {}

    def get(self, path: Path) -> HeldOutRun | None:
        hit = self.entries.get(path)
        if hit is not None and time.monotonic() - hit[0] < CACHE_SECONDS:
            return hit[1]
        run = run_for(path)
        self.entries[path] = (time.monotonic(), run)
        return run


def example_lines(text: str) -> list[int]:
    """1-based lines of `text` that hold an example that can be asked (a prompt and a reference answer)."""
    out = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line.lstrip("\ufeff"))
        except (ValueError, RecursionError):
            continue
        if isinstance(item_of(obj, number), Item):
            out.append(number)
            if len(out) >= MAX_LENSES:
                break
    return out


def item_at(text: str, line: int) -> Item:
    """The example on 1-based `line` of the document's current text, or AskError saying why it cannot be asked."""
    lines = text.splitlines()
    if not 1 <= line <= len(lines):
        raise AskError(f"the file has no line {line}")
    try:
        obj = json.loads(lines[line - 1].lstrip("\ufeff"))
    except (ValueError, RecursionError):
        raise AskError(f"line {line} is not valid JSON") from None
    got = item_of(obj, line)
    if isinstance(got, Skipped):
        raise AskError(f"line {line} cannot be asked: {got.reason}")
    return got


# --- the child: one chat completion through the evaluation's client ---------------------------------------------
def _child_main() -> int:
    """Read one request from stdin, send it once, print `{answer}` or `{error}` as one JSON line."""
    from tuneline.training.evaluate.hosted import Endpoint, Fatal, Stopped
    from tuneline.training.evaluate.plan import EvalError

    job = json.loads(sys.stdin.read())
    started = time.monotonic()
    try:
        endpoint = Endpoint(job["backend"], job["model"], "tuned", job.get("options") or {})
        answer, _kind = endpoint.complete(job["messages"], job.get("tools"), int(job["max_tokens"]), int(job["seed"]))
    except (EvalError, Fatal) as exc:
        print(json.dumps({"error": str(exc)}))
        return 0
    except Stopped:
        print(json.dumps({"error": "stopped"}))
        return 0
    print(json.dumps({"answer": answer.to_json(), "seconds": round(time.monotonic() - started, 3)}))
    return 0


def _timeout() -> float:
    try:
        return float(os.environ.get("TUNELINE_EVAL_TIMEOUT", os.environ.get("TUNELINE_HTTP_TIMEOUT", 120))) + 30
    except ValueError:
        return 150.0


def ask_once(run: HeldOutRun, item: Item) -> dict[str, Any]:
    """Send `item`'s prompt to the run's tuned model in a child process; `{answer, seconds}` or `{error}`."""
    job = {
        "backend": run.backend,
        "model": run.model,
        "options": run.options,
        "messages": item.prompt,
        "tools": item.tools,
        "max_tokens": MAX_TOKENS,
        "seed": SEED,
    }
    try:
        cwd = neutral_cwd()
    except provenance.ProvenanceError as exc:
        raise AskError(str(exc)) from None
    env = child_env({**os.environ, "TUNELINE_RETRY_ATTEMPTS": "1"})  # exactly one request per click
    try:
        done = subprocess.run(
            python_command(CHILD),
            input=json.dumps(job),
            capture_output=True,
            text=True,
            cwd=str(cwd),
            env=env,
            timeout=_timeout(),
            check=False,
        )
    except subprocess.TimeoutExpired:
        raise AskError(f"{run.model} did not answer in time; click again to ask again") from None
    except OSError as exc:
        raise AskError(f"could not start the request process ({exc.strerror or exc})") from None
    last = (done.stdout.strip().splitlines() or [""])[-1]
    try:
        out = json.loads(last)
    except ValueError:
        log.info("ask_tuned child: exit %s, stderr %s", done.returncode, done.stderr[-2000:])
        raise AskError(f"the request process ended with exit code {done.returncode}; see the server log") from None
    if not isinstance(out, dict):
        raise AskError("the request process returned nothing readable")
    return out


def _shown(text: str) -> str:
    return text if len(text) <= SHOWN_CHARS else text[:SHOWN_CHARS] + f"… ({len(text) - SHOWN_CHARS} more characters)"


def _calls_text(calls: list[dict[str, Any]]) -> str:
    return "; ".join(f"calls {c.get('name')} with {json.dumps(c.get('arguments'), ensure_ascii=False)}" for c in calls)


def _message(result: dict[str, Any]) -> str:
    tuned = result["answer"] or ""
    if result["toolCalls"]:
        tuned = " ".join(filter(None, [tuned, _calls_text(result["toolCalls"])]))
    reference = result["reference"] or ""
    if result["referenceToolCalls"]:
        reference = " ".join(filter(None, [reference, _calls_text(result["referenceToolCalls"])]))
    return (
        f"Tuned model {result['model']} on line {result['line']}:\n{_shown(tuned)}\n\nReference:\n{_shown(reference)}"
    )


def _arguments(args: tuple[Any, ...]) -> dict[str, Any]:
    value = args[0] if args else None
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("uri"), str)
        or isinstance(value.get("line"), bool)
        or not isinstance(value.get("line"), int)
    ):
        raise AskError("expected [{uri, line, show?}] (line is 1-based)")
    return value


def register(server: TunelineServer) -> None:
    """The command, and the lens added to the code lenses `code_lens.py` already returns (one handler per method)."""
    cache = _Cache()

    async def lenses(ls: TunelineServer, uri: str) -> list[dict[str, Any]]:
        doc = ls.documents.get(uri)
        path = uri_to_path(uri)
        if doc is None or path is None or not ls.trusted or not ls.has_command(ASK):
            return []
        loop = asyncio.get_running_loop()
        run = await loop.run_in_executor(None, cache.get, path)
        if run is None:
            return []
        numbers = await loop.run_in_executor(None, example_lines, doc.text())
        return [
            {
                "range": {"start": {"line": n - 1, "character": 0}, "end": {"line": n - 1, "character": 0}},
                "command": {"title": TITLE, "command": ASK, "arguments": [{"uri": uri, "line": n}]},
            }
            for n in numbers
        ]

    features = server.protocol.fm.features
    inner = features.get(types.TEXT_DOCUMENT_CODE_LENS)

    async def code_lens(params: types.CodeLensParams) -> list[Any]:
        got = inner(params) if inner is not None else []
        if inspect.isawaitable(got):
            got = await got
        try:
            mine = await lenses(server, params.text_document.uri)
        except Exception:  # the other lenses must survive anything here
            log.exception("the 'Ask the tuned model' lenses failed")
            mine = []
        return [*(got or []), *mine]

    features[types.TEXT_DOCUMENT_CODE_LENS] = code_lens
    if inner is None:
        server.protocol.fm.feature_options[types.TEXT_DOCUMENT_CODE_LENS] = types.CodeLensOptions()

    @server.command(ASK)
    async def ask(ls, *args: Any) -> dict[str, Any]:  # no annotation on ls: pygls evaluates the hints
        loop = asyncio.get_running_loop()
        show = True
        try:
            opts = _arguments(args)
            show = opts.get("show", True) is not False
            doc = ls.documents.get(opts["uri"])
            path = uri_to_path(opts["uri"])
            if doc is None or path is None:
                raise AskError("open the held-out file first: the lens asks about the example as the editor shows it")
            item = item_at(doc.text(), opts["line"])
            run = await loop.run_in_executor(None, run_for, path)  # checked again on every click, never cached
            if run is None:
                raise AskError(
                    f"{path.name} is not the held-out file of a finished hosted run you started here, so there is "
                    "no tuned model to ask"
                )
            problem = key_problem(run.backend, None, run.options)
            if problem:
                raise AskError(problem)
            out = await loop.run_in_executor(None, ask_once, run, item)
        except AskError as exc:
            if show:
                ls.window_show_message(
                    types.ShowMessageParams(type=types.MessageType.Error, message=f"Ask the tuned model: {exc}")
                )
            return {"ok": False, "refused": str(exc)}
        answer = out.get("answer") if isinstance(out.get("answer"), dict) else {}
        error = out.get("error") or answer.get("error")
        result = {
            "ok": error is None,
            "run": run.run_id,
            "backend": run.backend,
            "model": run.model,
            "base": run.base,
            "line": item.line,
            "prompt": item.prompt,
            "reference": item.reference,
            "referenceToolCalls": item.reference_tool_calls,
            "answer": None if error else answer.get("content") or "",
            "toolCalls": [] if error else answer.get("tool_calls") or [],
            "promptTokens": answer.get("prompt_tokens"),
            "completionTokens": answer.get("completion_tokens"),
            "seconds": out.get("seconds"),
            "error": error,
        }
        if show:
            if error:
                message = f"Ask the tuned model: {run.model} gave no answer on line {item.line}: {error}"
                kind = types.MessageType.Error
            else:
                message, kind = _message(result), types.MessageType.Info
            ls.window_show_message(types.ShowMessageParams(type=kind, message=message))
        return result


if __name__ == "__main__":
    sys.exit(_child_main())
