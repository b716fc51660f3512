"""What an evaluation will do, settled before anything is sent: which run or model, on which backend, against which
base model, on which held-out examples, at what estimated cost, and into which folder (a new one, or the unfinished
one it resumes).

Untrusted input: a repository can ship `.tuneline/runs/`. A run is evaluated only when this user started it here
(`provenance.check`); anything else must be named as a model. Light on purpose (the language server plans too):
no SDK, no torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tuneline.analysis.models import ModelTable

from .. import provenance
from ..backends.registry import BACKENDS, KEY_ENV, NAMES, unknown_backend
from ..launch import key_problem, project_root, registry_for, request_options
from ..runs import RunRecord, RunRegistry, now
from . import store
from .items import HeldOut, ItemsError, read_held_out
from .prices import Estimate, Price, estimate, price_for

DEFAULT_MAX_TOKENS = 512
MAX_CONCURRENCY = 32


class EvalError(Exception):
    """The evaluation cannot go ahead: one sentence, naming what to do."""


@dataclass
class EvalRequest:
    """What a front end (the CLI, the editor) asks for. Paths are absolute or relative to `cwd`."""

    target: str  # a run id (prefix, suffix, `last`) or a model name
    on: Path | None = None
    base: str | None = None
    limit: int | None = None
    judge: str | None = None
    judge_backend: str | None = None
    backend: str | None = None
    max_tokens: int | None = None
    seed: int = 42
    concurrency: int = 4
    price: Price | None = None  # for the tuned and base models when the table has none
    judge_price: Price | None = None
    device: str | None = None  # local runs: cpu, cuda, cuda:N
    runs_dir: str | None = None
    cwd: Path = field(default_factory=Path.cwd)
    fresh: bool = False  # do not resume an unfinished evaluation of the same thing

    def check(self) -> None:
        if self.limit is not None and (isinstance(self.limit, bool) or self.limit < 1):
            raise EvalError(f"--limit must be a whole number of at least 1, not {self.limit!r}")
        if self.max_tokens is not None and not 1 <= self.max_tokens <= 32768:
            raise EvalError(f"--max-tokens must be between 1 and 32768, not {self.max_tokens!r}")
        if not 1 <= self.concurrency <= MAX_CONCURRENCY:
            raise EvalError(f"--concurrency must be between 1 and {MAX_CONCURRENCY}, not {self.concurrency!r}")
        for flag, name in (("--backend", self.backend), ("--judge-backend", self.judge_backend)):
            if name is not None and name not in NAMES:
                raise EvalError(f"{flag}: {unknown_backend(name)}")
        if self.judge_backend == "local":
            raise EvalError("--judge-backend must be a hosted provider: the judge answers through chat completions")


@dataclass
class Plan:
    spec: dict[str, Any]  # what eval.json will hold
    held_out: HeldOut
    estimate: Estimate
    root: Path  # where eval folders of this target live
    resume: Path | None  # the unfinished eval folder this one continues
    record: RunRecord | None
    notes: list[str] = field(default_factory=list)

    @property
    def needs_confirmation(self) -> bool:
        """Anything that costs money is confirmed first; a purely local evaluation is not."""
        return self.estimate.requests > 0 and any(
            line.role == "judge" or self.spec["backend"] != "local" for line in self.estimate.lines if line.requests
        )

    def summary_json(self) -> dict[str, Any]:
        """What the editor shows before it asks (camelCase, like the other commands' results)."""
        return {
            "run": self.spec["target"].get("run"),
            "backend": self.spec["backend"],
            "model": self.spec["model"],
            "base": self.spec["base"],
            "judge": (self.spec.get("judge") or {}).get("model"),
            "file": self.held_out.path.as_posix(),
            "examples": len(self.held_out.items),
            "skipped": len(self.held_out.skipped),
            "resumes": self.resume.name if self.resume else None,
            "estimate": self.estimate.to_json(),
            "costText": self.estimate.cost_text(),
            "notes": list(self.notes),
        }


def find_run(registry: RunRegistry, text: str) -> str | None:
    """The run `text` names (whole id, unique prefix or suffix, or `last`: the newest run started here), or None
    when it names no run (then it is a model name)."""
    if "/" in text or ":" in text:
        return None
    runs = registry.list()
    if text == "last":
        here = [r.id for r in runs if provenance.started_here(registry, r.id)]
        if not here:
            raise EvalError(f"no run started here in {registry.root}")
        return here[0]
    if any(r.id == text for r in runs):
        return text
    matches = [r.id for r in runs if r.id.startswith(text) or r.id.endswith(text)]
    if len(matches) > 1:
        raise EvalError(f"{text!r} matches {len(matches)} runs; give more of the id")
    return matches[0] if matches else None


def guess_backend(model: str) -> str | None:
    """The provider that serves `model`, from its name: OpenAI's fine-tuned names, and the model table."""
    if model.startswith("ft:"):
        return "openai"
    info = ModelTable().resolve(model)
    if info.known and info.provider in BACKENDS:
        return info.provider
    if model.startswith(("gpt-", "o1", "o3", "o4")):
        return "openai"
    return None


def _key_problem(backend: str, options: dict[str, Any]) -> str | None:
    try:
        return key_problem(backend, None, options)  # type: ignore[call-arg]
    except TypeError:  # an older key_problem without options
        return key_problem(backend)


def _local_settings(folder: Path) -> tuple[Any, dict[str, str], dict[str, Any]]:
    """A local run's settings, its data files, and what the local child needs (base model, adapter, device)."""
    from ..backends.local.run_config import RunConfigError, load_run_config

    try:
        cfg, files = load_run_config(folder / "config.toml")
    except RunConfigError as exc:
        raise EvalError(str(exc)) from None
    adapter = folder / "adapter"
    if not (adapter / "adapter_config.json").is_file():
        raise EvalError(f"run {folder.name} has no saved adapter ({adapter}); it did not finish training")
    local = {
        "run_folder": str(folder.resolve()),
        "adapter": str(adapter.resolve()),
        "base_model": cfg.base_model,
        "device": cfg.device,
        "max_new_tokens": cfg.max_new_tokens,
    }
    return cfg, files, local


def _local_held_out(folder: Path, cfg: Any, files: dict[str, str], limit: int | None) -> HeldOut:
    """A local run's held-out examples as its trainer chose them: the validation file, or the seeded split of the
    training file (the trainer's own call, `split_examples`, with the run's share and seed)."""
    from ..backends.base import BackendError
    from ..backends.local.examples import read_examples, split_examples

    try:
        if files.get("validation"):
            return read_held_out(Path(files["validation"]), limit)
        train = Path(files.get("train") or "")
        try:
            _, held = split_examples(read_examples(train), cfg.eval_split, cfg.seed)
        except BackendError as exc:
            raise EvalError(str(exc)) from None
        if not held:
            raise EvalError(f"run {folder.name} held no examples out of training; pass --on FILE")
        return read_held_out(train, limit, lines={e.line for e in held})
    except ItemsError as exc:
        raise EvalError(str(exc)) from None


def make_plan(request: EvalRequest) -> Plan:
    """Settle everything before the first request; EvalError (one sentence) when it cannot go ahead."""
    request.check()
    registry = registry_for(project_root(request.cwd), request.runs_dir)
    run_id = find_run(registry, request.target)
    record: RunRecord | None = None
    notes: list[str] = []
    local: dict[str, Any] | None = None
    held: HeldOut | None = None
    options: dict[str, Any] = {}
    on = (request.cwd / request.on) if request.on is not None and not request.on.is_absolute() else request.on

    if run_id is not None:
        verdict = provenance.check(registry, run_id)
        if not verdict.here:
            raise EvalError(
                f"{verdict.problem}; tuneline evaluates only runs you started here, or a model you name "
                "(`tuneline eval MODEL --backend NAME --on FILE`)"
            )
        record = registry.get(run_id)
        if record.status != "succeeded" or not record.result_model:
            raise EvalError(f"run {run_id} is {record.status}, not finished: evaluate it once it has succeeded")
        backend = record.backend
        if request.backend is not None and request.backend != backend:
            raise EvalError(f"run {run_id} trained on {backend}, not {request.backend}; leave out --backend")
        model = record.result_model
        folder = registry.folder(run_id)
        root = folder / "eval"
        if backend == "local":
            if request.base is not None:
                raise EvalError(
                    "a local run is compared with its own base model (the adapter switched off); leave out --base"
                )
            cfg, files, local = _local_settings(folder)
            if on is None:
                held = _local_held_out(folder, cfg, files, request.limit)
            base = str(local["base_model"])
            if request.device:
                local["device"] = request.device
        else:
            options = request_options(registry, run_id)
            base = request.base or record.model
        if on is None and held is None:
            validation = (record.validation or {}).get("path")
            if not validation:
                raise EvalError(f"run {run_id} had no validation file: pass the held-out examples with --on FILE")
            on = Path(validation)
            if record.validation and record.validation.get("sha256"):
                from ..provenance import sha256_file

                try:
                    if sha256_file(on) != record.validation["sha256"]:
                        notes.append(f"{on} changed since the run used it as its validation file")
                except OSError:
                    raise EvalError(f"run {run_id}'s validation file {on} is gone: pass --on FILE") from None
    else:
        model = request.target
        backend = request.backend or guess_backend(model)
        if backend is None:
            raise EvalError(
                f"{request.target!r} is neither a run in {registry.root} nor a model tuneline knows the provider of: "
                f"pass --backend ({', '.join(n for n in NAMES if n != 'local')})"
            )
        if backend == "local":
            raise EvalError("the local backend evaluates runs (their saved adapter): pass a run id, not a model name")
        base = request.base or (model.split(":")[1] if model.startswith("ft:") and model.count(":") >= 2 else None)
        if base is None:
            raise EvalError(f"pass --base MODEL: the model {model} was tuned from, to compare against")
        if on is None:
            raise EvalError("pass the held-out examples with --on FILE")
        root = registry.root.parent / "evals"

    if held is None:
        assert on is not None
        try:
            held = read_held_out(on, request.limit)
        except ItemsError as exc:
            raise EvalError(str(exc)) from None
    note = held.skipped_note()
    if note:
        notes.append(note)

    judge = None
    if request.judge:
        judge_backend = (
            request.judge_backend or guess_backend(request.judge) or (backend if backend != "local" else None)
        )
        if judge_backend is None:
            raise EvalError(f"pass --judge-backend: tuneline does not know which provider serves {request.judge}")
        judge = {"model": request.judge, "backend": judge_backend}
    for name, opts in ((backend, options), *(((judge["backend"], {}),) if judge else ())):
        if name in KEY_ENV:
            problem = _key_problem(name, opts)
            if problem:
                raise EvalError(problem)

    max_tokens = request.max_tokens or (int(local["max_new_tokens"]) if local else DEFAULT_MAX_TOKENS)
    tuned_price = price_for(model) or request.price
    base_price = price_for(base) or request.price
    if backend == "local":
        tuned_price = base_price = Price(0.0, 0.0, "local")
    spec: dict[str, Any] = {
        "version": 1,
        "created_at": now(),
        "target": {"kind": "run" if record else "model", "run": record.id if record else None, "text": request.target},
        "backend": backend,
        "model": model,
        "base": base,
        "held_out": {
            "path": str(held.path.resolve()),
            "examples": len(held.items),
            "lines": held.lines,
            "skipped": [{"line": s.line, "reason": s.reason} for s in held.skipped[:50]],
        },
        "held_out_sha256": held.sha256,
        "limit": request.limit,
        "max_tokens": max_tokens,
        "seed": request.seed,
        "concurrency": request.concurrency,
        "judge": judge,
        "prices": {
            "tuned": _price_json(tuned_price),
            "base": _price_json(base_price),
            "judge": _price_json((price_for(judge["model"]) or request.judge_price) if judge else None),
        },
        "options": _safe_options(options),
        "local": local,
    }
    resume = None if request.fresh else store.find_resumable(root, store.spec_key(spec))
    done: dict[str, set[int]] = {}
    if resume is not None:
        done = store.answered(store.read_results(resume))
        notes.append(f"resuming evaluation {resume.name}: {sum(map(len, done.values()))} answers are already there")
    roles = [("tuned", model, tuned_price), ("base", base, base_price)]
    judge_line = (judge["model"], price_for(judge["model"]) or request.judge_price) if judge else None
    est = estimate(held.items, roles, max_tokens, judge_line, done)
    return Plan(spec, held, est, root, resume, record, notes)


def _price_json(price: Price | None) -> list[float] | None:
    return [price.input, price.output] if price else None


def _safe_options(options: dict[str, Any]) -> dict[str, Any]:
    """The backend options the eval needs again (endpoint, key variable name): never a key."""
    keep = ("base_url", "endpoint", "api_key_env", "api_version", "deployment")
    return {k: v for k, v in options.items() if k in keep and isinstance(v, str)}


def prepare(plan: Plan) -> Path:
    """The eval folder to fill: the one being resumed, or a new one with the spec and the items."""
    if plan.resume is not None:
        return plan.resume
    try:
        return store.create(plan.root, plan.spec, plan.held_out.items)
    except store.StoreError as exc:
        raise EvalError(str(exc)) from None
